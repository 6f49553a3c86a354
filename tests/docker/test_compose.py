"""compose/docker-compose.yml: valid, and the topology answers the queue SDK."""

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
    for service in ("blob", "queue", "table", "controlplane"):
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
    }
    command = [*compose_command(), "-f", str(COMPOSE_FILE), "-p", project]
    yield command, env
    subprocess.run([*command, "down", "-v", "-t", "2"], env=env, capture_output=True, timeout=120)


def test_compose_topology_answers_the_queue_sdk(compose_project: tuple[list[str], dict[str, str]]) -> None:
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
