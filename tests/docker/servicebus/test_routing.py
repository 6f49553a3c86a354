"""tests/sdk/servicebus/test_routing.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_routing import *  # noqa: F403
