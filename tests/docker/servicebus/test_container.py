"""What the rest of this package runs against: Service Bus in its own container, the
``localzure-servicebus`` image, with its state on a volume, behind the gateway."""

from tests.docker.conftest import docker_json
from tests.docker.servicebus.conftest import DockerServiceBus
from tests.support import wait_for


def test_service_bus_runs_in_its_own_container_behind_the_gateway(servicebus: DockerServiceBus) -> None:
    control_plane = servicebus.control_plane
    inspect = docker_json("inspect", "localzure-servicebus")[0]
    assert inspect["Config"]["Labels"]["io.localzure.service"] == "servicebus"
    assert inspect["Config"]["Image"] == "localzure/servicebus:latest"
    [mount] = inspect["Mounts"]
    assert (mount["Type"], mount["Destination"]) == ("volume", "/data")
    described = control_plane.service("servicebus")
    # Clients reach the gateway's port, never the container's published one.
    published = inspect["NetworkSettings"]["Ports"]["5672/tcp"][0]["HostPort"]
    assert int(published) != control_plane.ports["servicebus"] == described["port"]
    wait_for(lambda: control_plane.service("servicebus")["container"]["health"] == "healthy", timeout=20)
