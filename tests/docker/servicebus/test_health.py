"""tests/sdk/servicebus/test_health.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_health import *  # noqa: F403
