"""tests/sdk/servicebus/test_durability.py against the localzure-servicebus container. Its kill -9
is the engine's kill (SIGKILL: the emulator dies with the container's init); the control plane
then starts the same container again, and the state comes back from the container's volume."""

import pytest
from azure.servicebus import ServiceBusClient
from azure.servicebus.management import ServiceBusAdministrationClient

from controlplane.runners.engine import DockerEngine
from tests.docker.servicebus.conftest import DockerServiceBus
from tests.sdk.servicebus.test_durability import *  # noqa: F403
from tests.support import wait_for

CONTAINER = "localzure-servicebus"


class KilledContainer:
    """The test's ``Crashable`` emulator, as the control plane's container."""

    def __init__(self, servicebus: DockerServiceBus, engine: DockerEngine) -> None:
        self.servicebus = servicebus
        self.engine = engine
        self.killed: str | None = None
        """When the killed container had started (a restart changes it)."""

    def start(self) -> None:
        """Until the control plane runs the container again (the first time: it already does)."""
        wait_for(self._running_again, timeout=90, interval=0.2)

    def _running_again(self) -> bool:
        service = self.servicebus.control_plane.service("servicebus")
        container = service.get("container") or {}
        return service["state"] == "running" and container.get("started_at") != self.killed

    def kill(self) -> None:
        info = self.engine.find(CONTAINER)
        assert info is not None and info.status == "running", info
        self.killed = info.started_at
        self.engine.kill(info.id)

    def admin(self) -> ServiceBusAdministrationClient:
        return ServiceBusAdministrationClient.from_connection_string(
            self.servicebus.connection_string(), connection_verify=str(self.servicebus.ca_file)
        )

    def client(self) -> ServiceBusClient:
        return ServiceBusClient.from_connection_string(self.servicebus.connection_string())


# Replaces the SDK module's fixture of the same name (imported above).
@pytest.fixture  # type: ignore[no-redef]
def emulator(servicebus: DockerServiceBus, engine: DockerEngine) -> KilledContainer:
    return KilledContainer(servicebus, engine)
