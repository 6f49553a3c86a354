"""tests/sdk/servicebus/test_scheduling_and_peek.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_scheduling_and_peek import *  # noqa: F403
