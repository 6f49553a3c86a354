"""Queue Storage: ports, hostnames, how it runs and the factory of its in-process service."""

from __future__ import annotations

from controlplane.adapter import Adapter, ContainerSpec, Service, ServiceContext

DEFAULT_IMAGE = "localzure/controlplane:latest"


class QueueAdapter(Adapter):
    name = "queue"
    default_port = 10001
    hostname_suffixes = (".queue.core.windows.net", ".queue.localhost")

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.queue.api import QueueService

        return QueueService(context)

    def container_spec(self, image: str | None = None) -> ContainerSpec:
        port = self.default_port
        return ContainerSpec(
            image=image or DEFAULT_IMAGE,
            ports={port: "queue"},
            command=("python", "-m", "adapters.queue", "--host", "0.0.0.0", "--port", str(port), "--data-dir", "/data"),
            healthcheck=(
                "python",
                "-c",
                f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()",
            ),
            volume_path="/data",
        )

    def connection_string(self, account: str, key: str, endpoint: str) -> str | None:
        endpoint = endpoint.rstrip("/")
        if not endpoint.endswith(f"/{account}") and f"{account}.queue." not in endpoint:
            endpoint = f"{endpoint}/{account}"
        return f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};QueueEndpoint={endpoint};"
