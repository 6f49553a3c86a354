"""tests/sdk/servicebus/test_topics.py against the localzure-servicebus container."""

from tests.sdk.servicebus.test_topics import *  # noqa: F403
