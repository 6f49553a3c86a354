"""Service Bus fixtures on the shared session LocalZure: the real SDK's clients, and fresh entities per test.

Entities are created through ``ServiceBusAdministrationClient`` (HTTPS on the AMQP port,
trusting the local CA) and deleted after the test, so every test owns uniquely named ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.servicebus import ServiceBusClient
from azure.servicebus.management import QueueProperties, ServiceBusAdministrationClient, TopicProperties

from controlplane.testing.server import LocalZureThread
from tests.sdk.servicebus.support import QueueFactory, TopicFactory, unique


@pytest.fixture
def connection_string(localzure: LocalZureThread) -> str:
    return localzure.connection_string("servicebus")


@pytest.fixture
def ca_file(localzure: LocalZureThread) -> str:
    return str(localzure.ca_file)


@pytest.fixture
def namespace(localzure: LocalZureThread) -> str:
    """``host:port``, as clients built from a credential (not a connection string) name it."""
    return f"127.0.0.1:{localzure.port('servicebus')}"


@pytest.fixture
def admin_api(localzure: LocalZureThread) -> str:
    """The control plane's admin REST API (``/_localzure``)."""
    return f"http://127.0.0.1:{localzure.edge_port}/_localzure"


@pytest.fixture
def admin(connection_string: str, ca_file: str) -> Iterator[ServiceBusAdministrationClient]:
    with ServiceBusAdministrationClient.from_connection_string(connection_string, connection_verify=ca_file) as client:
        yield client


@pytest.fixture
def client(connection_string: str) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(connection_string) as sb:
        yield sb


@pytest.fixture
def new_queue(admin: ServiceBusAdministrationClient) -> Iterator[QueueFactory]:
    """``new_queue(**properties)``: a queue with a unique name, deleted after the test."""
    created: list[str] = []

    def create(**properties: Any) -> QueueProperties:
        name = properties.pop("name", None) or unique("q")
        queue = admin.create_queue(name, **properties)
        created.append(name)
        return queue

    yield create
    for name in reversed(created):
        with contextlib.suppress(ResourceNotFoundError):
            admin.delete_queue(name)


@pytest.fixture
def new_topic(admin: ServiceBusAdministrationClient) -> Iterator[TopicFactory]:
    """``new_topic(**properties)``: a topic with a unique name, deleted (with its subscriptions) after the test."""
    created: list[str] = []

    def create(**properties: Any) -> TopicProperties:
        name = properties.pop("name", None) or unique("t")
        topic = admin.create_topic(name, **properties)
        created.append(name)
        return topic

    yield create
    for name in reversed(created):
        with contextlib.suppress(ResourceNotFoundError):
            admin.delete_topic(name)


@pytest.fixture
def queue(new_queue: QueueFactory) -> str:
    """A plain queue with a short lock (5 s, the minimum), so lock expiry tests stay fast."""
    return new_queue(lock_duration=timedelta(seconds=5)).name
