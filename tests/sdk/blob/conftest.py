"""Blob fixtures on the shared session LocalZure: real SDK clients, one fresh container per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from controlplane.testing.server import LocalZureThread


@pytest.fixture
def service(localzure: LocalZureThread) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(localzure.connection_string("blob"))


@pytest.fixture
def container_name() -> str:
    return f"c-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def container(service: BlobServiceClient, container_name: str) -> Iterator[ContainerClient]:
    client = service.create_container(container_name)
    yield client
    with contextlib.suppress(ResourceNotFoundError):
        client.delete_container()
