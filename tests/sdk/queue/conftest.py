"""Queue fixtures on the shared session LocalZure: real SDK clients, one fresh queue per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient

from controlplane.testing.server import LocalZureThread


@pytest.fixture
def service(localzure: LocalZureThread) -> QueueServiceClient:
    return QueueServiceClient.from_connection_string(localzure.connection_string("queue"))


@pytest.fixture
def queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def queue(service: QueueServiceClient, queue_name: str) -> Iterator[QueueClient]:
    client = service.create_queue(queue_name)
    yield client
    with contextlib.suppress(ResourceNotFoundError):
        client.delete_queue()
