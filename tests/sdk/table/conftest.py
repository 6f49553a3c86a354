"""Table fixtures on the shared session LocalZure: real SDK clients, one fresh table per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient, TableServiceClient

from controlplane.testing.server import LocalZureThread


@pytest.fixture
def service(localzure: LocalZureThread) -> TableServiceClient:
    return TableServiceClient.from_connection_string(localzure.connection_string("table"))


@pytest.fixture
def table_name() -> str:
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture
def table(service: TableServiceClient, table_name: str) -> Iterator[TableClient]:
    client = service.create_table(table_name)
    yield client
    service.delete_table(table_name)
