"""compose/docker-compose.yml: valid, and the topology answers the queue and Service Bus SDKs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.management import ServiceBusAdministrationClient
from azure.storage.queue import QueueServiceClient

from tests.support import WELL_KNOWN_KEY, free_port

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if os.environ.get("LOCALZURE_REQUIRE_DOCKER") == "1":
        pytest.fail("neither docker-compose nor the compose plugin is installed")
    pytest.skip("neither docker-compose nor the compose plugin is installed")


def test_compose_file_is_valid() -> None:
    result = subprocess.run([*compose_command(), "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for service in ("blob", "queue", "table", "servicebus", "controlplane"):
        assert f"  {service}:" in result.stdout
    assert "--mode" in result.stdout and "external" in result.stdout


@pytest.fixture
def compose_project(images: None, docker_lock: None) -> Iterator[tuple[list[str], dict[str, str]]]:
    project = f"lzt{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "AZURITE_IMAGE": "localzure/azurite:latest",
        "LOCALZURE_NETWORK": f"{project}-net",
        "LOCALZURE_EDGE_PORT": str(free_port()),
        "LOCALZURE_BLOB_PORT": str(free_port()),
        "LOCALZURE_QUEUE_PORT": str(free_port()),
        "LOCALZURE_TABLE_PORT": str(free_port()),
        "LOCALZURE_SERVICEBUS_PORT": str(free_port()),
    }
    command = [*compose_command(), "-f", str(COMPOSE_FILE), "-p", project]
    yield command, env
    subprocess.run([*command, "down", "-v", "-t", "2"], env=env, capture_output=True, timeout=120)


def test_compose_topology_answers_the_queue_and_servicebus_sdks(
    compose_project: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    command, env = compose_project
    up = subprocess.run([*command, "up", "-d"], env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    edge = f"http://127.0.0.1:{env['LOCALZURE_EDGE_PORT']}/_localzure/health"
    deadline = time.monotonic() + 120
    health: dict = {}
    while time.monotonic() < deadline:
        try:
            health = httpx.get(edge, timeout=2).json()
            if health.get("status") == "healthy":
                break
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    logs = subprocess.run([*command, "logs", "--tail", "50"], env=env, capture_output=True, text=True).stdout
    assert health.get("status") == "healthy", logs
    assert health["services"]["queue"]["mode"] == "external"
    client = QueueServiceClient(
        f"http://127.0.0.1:{env['LOCALZURE_QUEUE_PORT']}/devstoreaccount1", credential=WELL_KNOWN_KEY
    )
    queue = client.create_queue("composed")
    queue.send_message("via compose")
    assert [m.content for m in queue.receive_messages()] == ["via compose"]

    # Service Bus: the management API's HTTPS ends at the control plane, AMQP goes through to
    # the servicebus container.
    assert health["services"]["servicebus"]["mode"] == "external"
    ca = tmp_path / "ca.pem"
    ca.write_bytes(httpx.get(edge.replace("/health", "/cert.pem"), timeout=5).content)
    connection = (
        f"Endpoint=sb://127.0.0.1:{env['LOCALZURE_SERVICEBUS_PORT']};SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
    )
    with ServiceBusAdministrationClient.from_connection_string(connection, connection_verify=str(ca)) as admin:
        admin.create_queue("composed")
    with ServiceBusClient.from_connection_string(connection) as sb:
        with sb.get_queue_sender("composed") as sender:
            sender.send_messages(ServiceBusMessage("via compose"))
        with sb.get_queue_receiver("composed", max_wait_time=10) as receiver:
            received = receiver.receive_messages(max_wait_time=10)
            assert [str(m) for m in received] == ["via compose"]
            receiver.complete_message(received[0])
