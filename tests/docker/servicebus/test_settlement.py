"""tests/sdk/servicebus/test_settlement.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_settlement import *  # noqa: F403
