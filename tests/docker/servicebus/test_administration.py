"""tests/sdk/servicebus/test_administration.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_administration import *  # noqa: F403
