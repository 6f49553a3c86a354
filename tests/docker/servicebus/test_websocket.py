"""tests/sdk/servicebus/test_websocket.py against the localzure-servicebus container: the upgrade
ends at the gateway, whose AMQP then goes through the pass-through to the container."""

from tests.sdk.servicebus.test_websocket import *  # noqa: F403

# This control plane runs Service Bus alone: there is no blob port to refuse the upgrade on.
del test_a_service_without_amqp_refuses_the_upgrade  # noqa: F405, F821
