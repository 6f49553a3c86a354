"""Service Bus in Docker mode: the localzure-servicebus container, reached through the gateway
(AMQP piped to the container unread, the management API's HTTPS ended at the gateway)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusAuthenticationError
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.docker.conftest import ControlPlane, docker_json
from tests.support import wait_for


def connection_string(cp: ControlPlane, key: str = "SAS_KEY_VALUE") -> str:
    return (
        f"Endpoint=sb://127.0.0.1:{cp.ports['servicebus']};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={key};UseDevelopmentEmulator=true;"
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_service_bus_runs_in_its_own_container_behind_the_gateway(
    control_planes: list[ControlPlane], tmp_path: Path
) -> None:
    cp = ControlPlane(tmp_path / "data", services=("servicebus",))
    control_planes.append(cp)
    cp.start()
    cp.wait_healthy()
    inspect = docker_json("inspect", "localzure-servicebus")[0]
    assert inspect["Config"]["Labels"]["io.localzure.service"] == "servicebus"
    assert inspect["Config"]["Image"] == "localzure/servicebus:latest"
    assert cp.service("servicebus")["mode"] == "docker"
    wait_for(lambda: cp.service("servicebus")["container"]["health"] == "healthy", timeout=20)

    admin = ServiceBusAdministrationClient.from_connection_string(connection_string(cp), connection_verify=False)
    name = f"q{uuid.uuid4().hex[:8]}"
    admin.create_queue(name, max_delivery_count=3)
    with pytest.raises(ResourceExistsError):
        admin.create_queue(name)
    assert name in [q.name for q in admin.list_queues()]

    with ServiceBusClient.from_connection_string(connection_string(cp)) as client:
        with client.get_queue_sender(name) as sender:
            sender.send_messages(ServiceBusMessage("one", application_properties={"n": 1}))
            batch = sender.create_message_batch()
            for text in ("two", "three"):
                batch.add_message(ServiceBusMessage(text, subject="batched"))
            sender.send_messages(batch)
        with client.get_queue_receiver(name, max_wait_time=5) as receiver:
            received = []
            while len(received) < 3:
                messages = receiver.receive_messages(max_message_count=3, max_wait_time=5)
                assert messages, f"only {[str(m) for m in received]} arrived"
                for message in messages:
                    receiver.complete_message(message)
                received += messages
    assert [str(m) for m in received] == ["one", "two", "three"]
    assert received[0].application_properties == {b"n": 1} and received[1].subject == "batched"
    assert admin.get_queue_runtime_properties(name).active_message_count == 0

    refused = ServiceBusClient.from_connection_string(connection_string(cp, "not-the-key"), retry_total=0)
    with refused, pytest.raises(ServiceBusAuthenticationError), refused.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("refused"))
