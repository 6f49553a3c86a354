"""Blob Storage: its port and the factory of its in-process service."""

from __future__ import annotations

from adapters.storage import StorageAdapter
from controlplane.adapter import Service, ServiceContext


class BlobAdapter(StorageAdapter):
    name = "blob"
    default_port = 10000
    endpoint_key = "BlobEndpoint"

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.blob.api import BlobService

        return BlobService(context)
