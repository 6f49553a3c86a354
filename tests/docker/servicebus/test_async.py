"""tests/sdk/servicebus/test_async.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_async import *  # noqa: F403
