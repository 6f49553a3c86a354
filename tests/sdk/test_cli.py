"""``localzure-cp`` as a user runs it: a real process, real ports, the real queue SDK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from tests.support import WELL_KNOWN_KEY, free_port, wait_for

CLI = [sys.executable, "-m", "controlplane"]


class Instance:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.edge = free_port()
        self.queue = free_port()
        self.env = {**os.environ, "LOCALZURE_SERVICES__QUEUE__PORT": str(self.queue)}
        self.common = ["--data-dir", str(data_dir), "--port", str(self.edge)]
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """``localzure-cp <command> <this instance's options> <rest>``; ``config show`` is one command."""
        words = 2 if args[0] == "config" else 1
        command = [*CLI, *args[:words], *self.common, *args[words:]]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        # Logs go to a file: an unread pipe fills up and blocks the server.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir.parent / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "start", *self.common, "--mode", "host", "--services", "queue", *extra],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        return self.process

    def server_log(self) -> str:
        return (self.data_dir.parent / "server.log").read_text()

    def wait_healthy(self) -> None:
        result = self.run("wait", "--timeout", "30")
        assert result.returncode == 0, result.stderr

    def queue_client(self) -> QueueServiceClient:
        return QueueServiceClient(f"http://127.0.0.1:{self.queue}/devstoreaccount1", credential=WELL_KNOWN_KEY)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    inst = Instance(tmp_path / "data")
    yield inst
    if inst.process is not None and inst.process.poll() is None:
        inst.process.kill()
        inst.process.wait()


def test_start_status_connection_strings_and_stop(instance: Instance) -> None:
    process = instance.start()
    instance.wait_healthy()

    status = instance.run("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["health"]["status"] == "healthy"
    queue = next(s for s in report["services"] if s["name"] == "queue")
    assert queue["state"] == "running" and queue["mode"] == "host"
    assert queue["endpoint"] == f"http://127.0.0.1:{instance.queue}"

    strings = instance.run("connection-strings")
    assert f"QueueEndpoint=http://127.0.0.1:{instance.queue}/devstoreaccount1" in strings.stdout
    connection = next(line for line in strings.stdout.splitlines() if "QueueEndpoint" in line)
    client = QueueServiceClient.from_connection_string(connection)
    client.create_queue("from-connection-string")
    assert [q.name for q in client.list_queues()] == ["from-connection-string"]

    stop = instance.run("stop")
    assert stop.returncode == 0, stop.stderr
    assert process.wait(timeout=30) == 0
    assert not (instance.data_dir / "localzure.pid").exists()


def test_sigterm_shuts_down_cleanly(instance: Instance) -> None:
    process = instance.start()
    instance.wait_healthy()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log = instance.server_log()
    assert "runtime: stopping -> stopped" in log
    assert "Traceback" not in log


def test_acknowledged_writes_survive_sigkill(instance: Instance) -> None:
    process = instance.start()
    instance.wait_healthy()
    service = instance.queue_client()
    acknowledged: dict[str, list[str]] = {}
    for q in range(3):
        name = f"durable-{q}"
        queue = service.create_queue(name, metadata={"round": str(q)})
        acknowledged[name] = [queue.send_message(f"message {q}-{i}").id for i in range(50)]
    # A dequeue is a write too: its dequeue count must survive.
    got = service.get_queue_client("durable-0").receive_message(visibility_timeout=1)
    assert got is not None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    instance.start()
    instance.wait_healthy()
    service = instance.queue_client()
    assert sorted(q.name for q in service.list_queues()) == sorted(acknowledged)
    for name, ids in acknowledged.items():
        queue = service.get_queue_client(name)
        assert queue.get_queue_properties().metadata == {"round": name[-1]}
        wait_for(lambda q=queue: q.get_queue_properties().approximate_message_count == 50)
        seen: dict[str, QueueMessage] = {}

        def all_received(q: QueueClient = queue, ids: list[str] = ids, seen: dict[str, QueueMessage] = seen) -> bool:
            # The message received before the kill is invisible until its 1 s timeout passes.
            seen.update((m.id, m) for m in q.receive_messages(messages_per_page=32, visibility_timeout=60))
            return set(seen) >= set(ids)

        wait_for(all_received, timeout=10)
        assert set(seen) == set(ids)
        if name == "durable-0":
            assert seen[got.id].dequeue_count == 2


def test_port_in_use_names_the_port(instance: Instance) -> None:
    with __import__("socket").socket() as blocker:
        blocker.bind(("127.0.0.1", instance.queue))
        blocker.listen()
        result = subprocess.run(
            [*CLI, "start", *instance.common, "--mode", "host", "--services", "queue"],
            capture_output=True,
            text=True,
            env=instance.env,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"port {instance.queue}" in result.stderr and "'queue'" in result.stderr


def test_invalid_config_stops_start_up_naming_the_field(instance: Instance, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("services:\n  queue:\n    port: 99999\n")
    env_port = instance.env.pop("LOCALZURE_SERVICES__QUEUE__PORT")
    try:
        result = instance.run("start", "--config", str(config))
    finally:
        instance.env["LOCALZURE_SERVICES__QUEUE__PORT"] = env_port
    assert result.returncode == 2
    assert "services.queue.port" in result.stderr and "99999" in result.stderr


def test_config_show_redacts_keys(instance: Instance) -> None:
    result = instance.run("config", "show")
    assert result.returncode == 0
    shown = json.loads(result.stdout)
    assert shown["accounts"]["devstoreaccount1"] != WELL_KNOWN_KEY
    assert WELL_KNOWN_KEY not in result.stdout


def test_detach_then_logs_and_stop(instance: Instance) -> None:
    started = time.monotonic()
    result = instance.run("start", "--detach", "--mode", "host", "--services", "queue", timeout=90)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    try:
        instance.queue_client().create_queue("detached")
        logs = instance.run("logs", "queue", "--tail", "50")
        assert logs.returncode == 0
        assert "queue" in logs.stdout
    finally:
        assert instance.run("stop").returncode == 0
    assert wait_for(lambda: not (instance.data_dir / "localzure.pid").exists())


def test_status_when_nothing_runs_says_so(instance: Instance) -> None:
    result = instance.run("status")
    assert result.returncode == 1
    assert "not answering" in result.stderr


def test_hosts_prints_lines_for_accounts() -> None:
    result = subprocess.run([*CLI, "hosts"], capture_output=True, text=True, timeout=30)
    assert "127.0.0.1 devstoreaccount1.queue.localhost" in result.stdout.splitlines()


def test_admin_api_reports_services(instance: Instance) -> None:
    instance.start()
    instance.wait_healthy()
    base = f"http://127.0.0.1:{instance.edge}"
    health = httpx.get(f"{base}/health").json()
    assert health["services"]["queue"]["state"] == "running"
    assert httpx.get(f"{base}/_localzure/services/nope").status_code == 404
    assert "paths" in httpx.get(f"{base}/_localzure/openapi.json").json()


def test_config_file_changes_apply_live(instance: Instance, tmp_path: Path) -> None:
    config = tmp_path / "localzure.yaml"
    config.write_text("log_level: INFO\n")
    instance.start("--config", str(config))
    instance.wait_healthy()
    key = "bXlhcHAtc2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ=="
    client = QueueServiceClient(f"http://127.0.0.1:{instance.queue}/myapp", credential=key)
    with pytest.raises(ClientAuthenticationError):
        client.create_queue("before")

    config.write_text(f"log_level: INFO\naccounts:\n  myapp: {key}\nshutdown_timeout: 10\n")

    def accepted() -> bool:
        try:
            client.create_queue("after")
        except ClientAuthenticationError:
            return False
        return True

    assert wait_for(accepted, timeout=15)
    assert [q.name for q in client.list_queues()] == ["after"]
    log = wait_for(lambda: "shutdown_timeout" in instance.server_log() and instance.server_log())
    assert "restart" in log
