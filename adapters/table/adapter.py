"""Table Storage: its port and the factory of its in-process service."""

from __future__ import annotations

from adapters.storage import StorageAdapter
from controlplane.adapter import Service, ServiceContext


class TableAdapter(StorageAdapter):
    name = "table"
    default_port = 10002
    endpoint_key = "TableEndpoint"

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.table.api import TableService

        return TableService(context)
