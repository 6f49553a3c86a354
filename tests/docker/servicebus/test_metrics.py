"""tests/sdk/servicebus/test_metrics.py against the localzure-servicebus container: the counters
reach the control plane's /_localzure/metrics from the container's own port."""

from tests.sdk.servicebus.test_metrics import *  # noqa: F403

# Starts its own Service Bus process behind an external-mode control plane: no container involved.
del test_a_service_bus_in_its_own_process_reports_its_counts_to_the_control_plane  # noqa: F405, F821
