"""tests/sdk/servicebus/test_errors.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_errors import *  # noqa: F403
