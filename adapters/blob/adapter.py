"""Blob Storage: ports, hostnames, how it runs and the factory of its in-process service."""

from __future__ import annotations

from controlplane.adapter import Adapter, ContainerSpec, Service, ServiceContext

DEFAULT_IMAGE = "localzure/controlplane:latest"


class BlobAdapter(Adapter):
    name = "blob"
    default_port = 10000
    hostname_suffixes = (".blob.core.windows.net", ".blob.localhost")

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.blob.api import BlobService

        return BlobService(context)

    def container_spec(self, image: str | None = None) -> ContainerSpec:
        port = self.default_port
        return ContainerSpec(
            image=image or DEFAULT_IMAGE,
            ports={port: "blob"},
            command=("python", "-m", "adapters.blob", "--host", "0.0.0.0", "--port", str(port), "--data-dir", "/data"),
            healthcheck=(
                "python",
                "-c",
                f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()",
            ),
            volume_path="/data",
        )

    def connection_string(self, account: str, key: str, endpoint: str) -> str | None:
        endpoint = endpoint.rstrip("/")
        if not endpoint.endswith(f"/{account}") and f"{account}.blob." not in endpoint:
            endpoint = f"{endpoint}/{account}"
        return f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={endpoint};"
