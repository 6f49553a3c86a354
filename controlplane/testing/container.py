"""LocalZure as a testcontainers module: the control-plane image, every service in-process.

    from controlplane.testing.container import LocalZureContainer

    with LocalZureContainer().with_services("queue").with_in_memory() as localzure:
        client = QueueServiceClient.from_connection_string(localzure.get_connection_string("queue"))

Needs the image (``localzure-cp images build`` makes it where nothing can be pulled).
"""

from __future__ import annotations

import base64
from typing import Any

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from controlplane.adapter import CONTROLPLANE_IMAGE
from controlplane.config import WELL_KNOWN_ACCOUNT, WELL_KNOWN_KEY

EDGE_PORT = 8080
SERVICE_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
_ENDPOINT_NAMES = {"blob": "BlobEndpoint", "queue": "QueueEndpoint", "table": "TableEndpoint"}


class LocalZureContainer(DockerContainer):
    """Builder methods return ``self``; ``start()`` waits until ``/health`` says healthy."""

    def __init__(self, image: str = CONTROLPLANE_IMAGE, startup_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.services: list[str] | None = None
        self.accounts: dict[str, str] = {WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY}
        self.startup_timeout = startup_timeout
        self.with_exposed_ports(EDGE_PORT, *SERVICE_PORTS.values())
        self.waiting_for(
            HttpWaitStrategy(EDGE_PORT, "/_localzure/health")
            .for_response_predicate(lambda body: '"status":"healthy"' in body.replace(" ", ""))
            .with_startup_timeout(int(startup_timeout))
        )

    def with_services(self, *services: str) -> LocalZureContainer:
        """Run only these services (default: every installed one)."""
        self.services = list(services)
        return self

    def with_account(self, name: str, key: str | bytes | None = None) -> LocalZureContainer:
        """Add a storage account (key: base64 text or raw bytes; default: a fixed test key)."""
        if isinstance(key, bytes):
            key = base64.b64encode(key).decode()
        self.accounts[name] = key or base64.b64encode(name.encode().ljust(64, b"k")).decode()
        return self

    def with_in_memory(self) -> LocalZureContainer:
        """Keep no state on disk (faster; state dies with the container)."""
        self.with_env("LOCALZURE_PERSISTENCE", "memory")
        return self

    def with_log_level(self, level: str) -> LocalZureContainer:
        self.with_env("LOCALZURE_LOG_LEVEL", level.upper())
        return self

    def start(self) -> LocalZureContainer:
        self.with_env("LOCALZURE_ACCOUNTS", ";".join(f"{n}:{k}" for n, k in self.accounts.items()))
        command = ["localzure-cp", "start", "--mode", "host", "--host", "0.0.0.0", "--port", str(EDGE_PORT)]
        if self.services:
            command += ["--services", ",".join(self.services)]
        self.with_command(command)
        super().start()
        return self

    def get_service_url(self, service: str, account: str = WELL_KNOWN_ACCOUNT) -> str:
        """Path-style account URL, e.g. ``http://localhost:49154/devstoreaccount1``."""
        port = self.get_exposed_port(SERVICE_PORTS[service])
        return f"http://{self.get_container_host_ip()}:{port}/{account}"

    def get_admin_url(self) -> str:
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(EDGE_PORT)}/_localzure"

    def get_connection_string(self, service: str, account: str = WELL_KNOWN_ACCOUNT) -> str:
        if service not in _ENDPOINT_NAMES:
            raise ValueError(f"no connection string for '{service}' (known: {', '.join(_ENDPOINT_NAMES)})")
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={self.accounts[account]};"
            f"{_ENDPOINT_NAMES[service]}={self.get_service_url(service, account)};"
        )
