"""Queue Storage: its port and the factory of its in-process service."""

from __future__ import annotations

from adapters.storage import StorageAdapter
from controlplane.adapter import Service, ServiceContext


class QueueAdapter(StorageAdapter):
    name = "queue"
    default_port = 10001
    endpoint_key = "QueueEndpoint"

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.queue.api import QueueService

        return QueueService(context)
