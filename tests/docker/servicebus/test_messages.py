"""tests/sdk/servicebus/test_messages.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_messages import *  # noqa: F403
