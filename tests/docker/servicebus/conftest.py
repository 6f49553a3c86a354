"""The Service Bus SDK tests (``tests/sdk/servicebus``) again, against the ``localzure-servicebus``
container of a Docker-mode control plane: AMQP piped through the gateway to the container
unread, the management API's HTTPS ended at the gateway.

The modules here re-export the SDK modules' tests; these fixtures give them the Docker-mode
control plane's connection string, CA and admin API in place of the in-process LocalZure's.
One control plane serves the whole package (a start costs seconds), and the package holds the
Docker test lock throughout: the container's name is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.config import WELL_KNOWN_ACCOUNT
from controlplane.runners.engine import DockerEngine
from tests.docker.conftest import ControlPlane, engine_to_ourselves

# The SDK suite's own client and entity fixtures, built on the overrides below.
from tests.sdk.servicebus.conftest import admin, client, new_queue, new_topic, queue  # noqa: F401


@dataclass
class DockerServiceBus:
    """Service Bus as a Docker-mode control plane serves it, told apart from the in-process
    LocalZure only by where it is (the SDK suite's ``LocalZureThread`` offers the same two)."""

    control_plane: ControlPlane

    def connection_string(self, service: str = "servicebus") -> str:
        """What the control plane hands its users (``/_localzure/connection-strings``)."""
        strings = httpx.get(f"{self.control_plane.admin}/connection-strings", timeout=5).json()
        return str(strings[service][WELL_KNOWN_ACCOUNT])

    @property
    def edge_port(self) -> int:
        return self.control_plane.edge

    def port(self, service: str) -> int:
        return self.control_plane.ports[service]

    @cached_property
    def ca_file(self) -> Path:
        """The CA the gateway's HTTPS certificate chains to, downloaded as a user would."""
        path = self.control_plane.data_dir.parent / f"ca-{self.control_plane.edge}.pem"
        path.write_bytes(httpx.get(f"{self.control_plane.admin}/cert.pem", timeout=5).content)
        return path


class ServiceBusControlPlanes:
    """At most one Docker-mode control plane running only Service Bus, started with the
    ``services.servicebus`` settings a test asks for, and restarted when another asks for others."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current: DockerServiceBus | None = None
        self._settings: dict[str, Any] | None = None
        self._started = 0

    def running(self, settings: dict[str, Any] | None = None) -> DockerServiceBus:
        if self.current is not None and settings == self._settings:
            return self.current
        self.stop()
        self._started += 1
        config = None
        if settings is not None:
            config = self.root / f"config-{self._started}.json"
            config.write_text(json.dumps({"services": {"servicebus": settings}}))
        control_plane = ControlPlane(self.root / f"data-{self._started}", config=config, services=("servicebus",))
        self.current, self._settings = DockerServiceBus(control_plane), settings
        control_plane.start()
        control_plane.wait_healthy()
        # The control plane runs a service in host mode when its image is unobtainable: then
        # these tests would prove nothing about Docker mode.
        mode = control_plane.service("servicebus")["mode"]
        assert mode == "docker", f"Service Bus runs in {mode} mode:\n{control_plane.output()}"
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            control_plane, self.current = self.current.control_plane, None
            try:
                control_plane.terminate()
            finally:
                control_plane.kill()


@pytest.fixture(scope="package")
def servicebus_control_planes(
    engine: DockerEngine, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceBusControlPlanes]:
    with engine_to_ourselves(engine):
        planes = ServiceBusControlPlanes(tmp_path_factory.mktemp("servicebus-docker"))
        try:
            yield planes
        finally:
            planes.stop()


@pytest.fixture
def servicebus(servicebus_control_planes: ServiceBusControlPlanes) -> DockerServiceBus:
    """The control plane with Service Bus's default settings."""
    return servicebus_control_planes.running()


@pytest.fixture
def localzure(servicebus: DockerServiceBus) -> DockerServiceBus:
    """For the tests that reach the ports themselves (WebSocket upgrades, the edge's proxy, metrics)."""
    return servicebus


@pytest.fixture
def connection_string(servicebus: DockerServiceBus) -> str:
    return servicebus.connection_string()


@pytest.fixture
def ca_file(servicebus: DockerServiceBus) -> str:
    return str(servicebus.ca_file)


@pytest.fixture
def namespace(servicebus: DockerServiceBus) -> str:
    return f"127.0.0.1:{servicebus.control_plane.ports['servicebus']}"


@pytest.fixture
def admin_api(servicebus: DockerServiceBus) -> str:
    return servicebus.control_plane.admin
