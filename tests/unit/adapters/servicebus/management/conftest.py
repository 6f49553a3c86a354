from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.unit.adapters.servicebus.management.sdk_transport import (
    CONNECTION_STRING,
    FakeManagementService,
    ServiceTransport,
)


@pytest.fixture
def service() -> FakeManagementService:
    return FakeManagementService()


@pytest.fixture
def client(service: FakeManagementService) -> Iterator[ServiceBusAdministrationClient]:
    # retry_total=0: an error answer must surface as the SDK's exception, not be retried.
    with ServiceBusAdministrationClient.from_connection_string(
        CONNECTION_STRING, transport=ServiceTransport(service), retry_total=0
    ) as admin:
        yield admin
