"""tests/sdk/servicebus/test_sessions.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_sessions import *  # noqa: F403
