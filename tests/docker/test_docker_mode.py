"""Docker mode against a real engine: containers, labels, health, restarts, orphans, logs."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from controlplane.runners.engine import DockerEngine
from tests.docker.conftest import ControlPlane, docker_json
from tests.support import WELL_KNOWN_KEY, wait_for


def expected_containers(cp: ControlPlane) -> list[str]:
    from controlplane.registry import discover

    return sorted(f"localzure-{name}" for name in (cp.services or discover()))


def queue_client(cp: ControlPlane) -> QueueServiceClient:
    return QueueServiceClient(f"http://127.0.0.1:{cp.queue}/devstoreaccount1", credential=WELL_KNOWN_KEY)


def start(control_planes: list[ControlPlane], data_dir: Path, **kwargs: object) -> ControlPlane:
    cp = ControlPlane(data_dir, **kwargs)  # type: ignore[arg-type]
    control_planes.append(cp)
    cp.start()
    cp.wait_healthy()
    return cp


@pytest.mark.usefixtures("resolve_localhost")
def test_services_run_in_labelled_healthy_containers_behind_the_gateway(
    control_planes: list[ControlPlane], tmp_path: Path
) -> None:
    cp = start(control_planes, tmp_path / "data", services=None)
    inspect = docker_json("inspect", "localzure-queue")[0]
    labels = inspect["Config"]["Labels"]
    assert labels["io.localzure.managed"] == "true"
    assert labels["io.localzure.service"] == "queue"
    assert labels["io.localzure.owner"].split("/")[1] == str(cp.process.pid)  # type: ignore[union-attr]
    assert "localzure" in inspect["NetworkSettings"]["Networks"]
    bindings = inspect["HostConfig"]["PortBindings"]["10001/tcp"]
    assert bindings[0]["HostIp"] == "127.0.0.1"
    assert any(m["Type"] == "volume" and m["Destination"] == "/data" for m in inspect["Mounts"])

    service = cp.service("queue")
    assert (service["mode"], service["state"]) == ("docker", "running")
    # Running as soon as it answers; the HEALTHCHECK (every 5 s) then reports it healthy.
    container = wait_for(lambda: (c := cp.service("queue")["container"])["health"] == "healthy" and c, timeout=20)
    assert docker_json("inspect", "localzure-queue")[0]["State"]["Health"]["Status"] == "healthy"
    assert container["name"] == "localzure-queue"
    assert inspect["Id"].startswith(container["id"])
    assert container["ports"]["10001"].startswith("127.0.0.1:")
    assert container["restart_count"] == 0 and container["started_at"]
    health = httpx.get(f"{cp.admin}/health").json()
    assert health["services"]["queue"]["mode"] == "docker"
    assert health["services"]["queue"]["container"]["id"] == container["id"]

    client = queue_client(cp)
    queue = client.create_queue(f"q{uuid.uuid4().hex[:8]}")
    queue.send_message("through the gateway")
    assert [m.content for m in queue.receive_messages()] == ["through the gateway"]

    # Hostname routing on the edge port reaches the same container.
    edge = QueueServiceClient(
        f"http://devstoreaccount1.queue.localhost:{cp.edge}",
        credential={"account_name": "devstoreaccount1", "account_key": WELL_KNOWN_KEY},
    )
    assert queue.queue_name in [q.name for q in edge.list_queues()]

    # Every installed storage service runs in its own Azurite container.
    from controlplane.registry import discover

    for name in {"blob", "queue", "table"} & set(discover()):
        other = docker_json("inspect", f"localzure-{name}")[0]
        assert other["Config"]["Labels"]["io.localzure.service"] == name
        assert wait_for(
            lambda n=name: docker_json("inspect", f"localzure-{n}")[0]["State"]["Health"]["Status"] == "healthy"
        )
        assert other["Args"][0] == f"azurite-{name}" or other["Path"] == f"azurite-{name}"
        assert cp.service(name)["mode"] == "docker"

    if "blob" in discover():
        from azure.storage.blob import BlobServiceClient

        blobs = BlobServiceClient(f"http://127.0.0.1:{cp.ports['blob']}/devstoreaccount1", credential=WELL_KNOWN_KEY)
        container_client = blobs.create_container(f"c{uuid.uuid4().hex[:8]}")
        payload = bytes(range(256)) * 4096  # 1 MiB, streamed both ways
        container_client.upload_blob("one-mib", payload)
        assert container_client.download_blob("one-mib").readall() == payload

    status = cp.run("status")
    assert "container localzure-queue" in status.stdout and "healthy" in status.stdout, status.stdout


def test_container_logs_reach_the_admin_logs_endpoint(control_planes: list[ControlPlane], tmp_path: Path) -> None:
    cp = start(control_planes, tmp_path / "data")
    lines = wait_for(
        lambda: [
            line
            for line in httpx.get(f"{cp.admin}/services/queue/logs", params={"tail": 500}).json()
            if line.get("container") == "localzure-queue"
        ]
    )
    assert any("listens on" in line["message"] or "listening" in line["message"] for line in lines), lines


def test_a_killed_container_is_detected_and_comes_back_with_its_data(
    control_planes: list[ControlPlane], tmp_path: Path
) -> None:
    cp = start(control_planes, tmp_path / "data")
    queue = queue_client(cp).create_queue(f"kept{uuid.uuid4().hex[:8]}")
    queue.send_message("survives")
    time.sleep(6)  # Azurite saves its metadata store every 5s
    subprocess.run(["docker", "kill", "localzure-queue"], check=True, capture_output=True)
    wait_for(lambda: cp.service("queue")["state"] != "running", timeout=10, interval=0.02)
    wait_for(lambda: cp.service("queue")["state"] == "running", timeout=60, interval=0.2)
    assert cp.service("queue")["container"]["restart_count"] >= 1
    assert [m.content for m in queue.peek_messages()] == ["survives"]
    log = httpx.get(f"{cp.admin}/services/queue/logs", params={"tail": 500}).json()
    assert any("restarting localzure-queue" in line["message"] for line in log)


def test_sigkill_of_the_control_plane_then_a_new_start_leaves_no_orphans(
    control_planes: list[ControlPlane], tmp_path: Path, engine: DockerEngine
) -> None:
    first = start(control_planes, tmp_path / "data", services=None)
    old_id = docker_json("inspect", "localzure-queue")[0]["Id"]
    first.kill()
    assert docker_json("inspect", "localzure-queue")[0]["Id"] == old_id  # left behind

    second = start(control_planes, tmp_path / "data", services=None)
    managed = engine.managed()
    assert sorted(c.name for c in managed) == expected_containers(second)
    assert old_id not in [c.id for c in managed]
    for container in managed:
        assert container.labels["io.localzure.owner"].split("/")[1] == str(second.process.pid)  # type: ignore[union-attr]
    assert "orphan container localzure-queue" in second.output()

    assert second.terminate() == 0
    assert engine.managed() == [], "stop removes the control plane's own containers"


def test_stop_keep_leaves_the_containers(
    control_planes: list[ControlPlane], tmp_path: Path, engine: DockerEngine
) -> None:
    cp = start(control_planes, tmp_path / "data")
    result = cp.run("stop", "--keep")
    assert result.returncode == 0, result.stderr
    assert sorted(c.name for c in engine.managed()) == expected_containers(cp)


def test_an_unlabelled_container_with_our_name_is_left_alone_and_named(
    control_planes: list[ControlPlane], tmp_path: Path, engine: DockerEngine
) -> None:
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            "localzure-queue",
            "--label",
            "io.localzure.test=true",
            "localzure/base:bookworm",
            "sleep",
            "600",
        ],
        check=True,
        capture_output=True,
    )
    cp = ControlPlane(tmp_path / "data")
    control_planes.append(cp)
    process = cp.start()
    assert process.wait(timeout=120) == 1
    assert "localzure-queue" in cp.output() and "leaves it alone" in cp.output()
    survivor = engine.find("localzure-queue")
    assert survivor is not None and survivor.status == "running" and not survivor.managed


def test_our_own_emulator_image_runs_with_the_emulator_switch(
    control_planes: list[ControlPlane], tmp_path: Path
) -> None:
    config = tmp_path / "localzure.yaml"
    config.write_text("services:\n  queue:\n    emulator: localzure\n")
    cp = start(control_planes, tmp_path / "data", config=config)
    container = wait_for(lambda: (c := cp.service("queue")["container"])["health"] == "healthy" and c, timeout=20)
    assert container["image"] == "localzure/controlplane:latest"
    queue = queue_client(cp).create_queue(f"own{uuid.uuid4().hex[:8]}")
    queue.send_message("served by adapters.queue in a container")
    assert [m.content for m in queue.receive_messages()] == ["served by adapters.queue in a container"]


@pytest.mark.parametrize("mode", ["auto"])
def test_an_unreachable_engine_falls_back_to_host_mode(tmp_path: Path, mode: str) -> None:
    cp = ControlPlane(tmp_path / "data", mode=mode, env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    cp.start()
    try:
        cp.wait_healthy(timeout=60)
        assert cp.service("queue")["mode"] == "host"
        queue_client(cp).create_queue("fallback")
    finally:
        cp.kill()


def test_docker_mode_without_an_engine_fails_saying_so(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / "data", env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert cp.start().wait(timeout=60) == 1
    assert "no Docker engine" in cp.output()


def test_a_service_whose_image_cannot_be_had_runs_in_host_mode_with_a_warning(
    control_planes: list[ControlPlane], tmp_path: Path
) -> None:
    config = tmp_path / "localzure.yaml"
    config.write_text("services:\n  queue:\n    image: localzure/no-such-image:1\n")
    cp = start(control_planes, tmp_path / "data", config=config, services=None)
    assert cp.service("queue")["mode"] == "host"
    assert "localzure/no-such-image:1" in cp.output() and "running it in host mode" in cp.output()
    queue_client(cp).create_queue("hosted")
    others = [name for name in expected_containers(cp) if name != "localzure-queue"]
    for name in others:
        assert cp.service(name.removeprefix("localzure-"))["mode"] == "docker"
