"""How engine events move a Docker-mode service's state (a stub engine, no Docker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controlplane.runners.docker import DockerRunner
from controlplane.runners.engine import ContainerInfo
from controlplane.runtime import ServiceSlot, ServiceState


def info(status: str = "running", health: str | None = "healthy", port: int = 40000) -> ContainerInfo:
    return ContainerInfo(
        id="c" * 64, name="localzure-queue", image="img", status=status, health=health, labels={}, ports={10001: port}
    )


class StubEngine:
    """Each start publishes the container on the next of ``ports``, where an HTTP server answers."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.current = info(port=ports[0])
        self.started = 0

    def find(self, ident: str) -> ContainerInfo:
        return self.current

    def attach(self, ident: str, include_past: bool) -> Any:
        return iter(())

    def start(self, ident: str) -> ContainerInfo:
        self.started += 1
        self.current = info(port=self.ports[self.started % len(self.ports)])
        return self.current

    def kill(self, ident: str) -> None:
        self.current = info(status="exited", health="unhealthy")


class StubSession:
    def __init__(self, ports: list[int]) -> None:
        self.engine = StubEngine(ports)
        self.watched: list[str] = []

    def watch(self, container_id: str, handler: Any) -> None:
        self.watched.append(container_id)

    def unwatch(self, container_id: str) -> None:
        pass


@pytest.fixture
async def answering_ports() -> AsyncIterator[list[int]]:
    """Two ports on which something answers HTTP, like a started container's service."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(answer, "127.0.0.1", 0) for _ in range(2)]
    yield [server.sockets[0].getsockname()[1] for server in servers]
    for server in servers:
        server.close()


def runner_and_slot(tmp_path: Path, ports: list[int]) -> tuple[DockerRunner, ServiceSlot, StubSession]:
    from adapters.queue.adapter import QueueAdapter
    from controlplane.runners.containers import azurite_spec
    from controlplane.runners.forward import ForwardingService

    session = StubSession(ports)
    runtime = SimpleNamespace(settings=SimpleNamespace(data_dir=tmp_path), slots={})
    runner = DockerRunner(runtime, session, fallback=SimpleNamespace())  # type: ignore[arg-type]
    runner.restart_attempts = 3
    runner.unhealthy_grace = 0.05
    runner.container, runner.spec = session.engine.current, azurite_spec("queue")
    runner.forward = ForwardingService("queue", f"http://127.0.0.1:{ports[0]}")
    runner._ready = True
    slot = ServiceSlot(QueueAdapter(), runner, 10001, state=ServiceState.RUNNING)
    return runner, slot, session


async def test_unhealthy_degrades_and_healthy_recovers(tmp_path: Path, answering_ports: list[int]) -> None:
    runner, slot, _ = runner_and_slot(tmp_path, answering_ports)
    runner.unhealthy_grace = 60
    runner._on_event(slot, "health_status: unhealthy", {})
    assert slot.state is ServiceState.DEGRADED
    runner._on_event(slot, "health_status: healthy", {})
    assert slot.state is ServiceState.RUNNING
    assert runner._unhealthy is None


async def test_an_exited_container_fails_the_service_then_is_restarted(
    tmp_path: Path, answering_ports: list[int]
) -> None:
    runner, slot, session = runner_and_slot(tmp_path, answering_ports)
    seen: list[tuple[str, str]] = []
    slot.listeners.append(lambda name, old, new: seen.append((str(old), str(new))))
    runner._on_event(slot, "die", {"Actor": {"Attributes": {"exitCode": "137"}}})
    assert slot.state is ServiceState.FAILED and "137" in (slot.error or "")
    assert runner._recovery is not None
    await asyncio.wait_for(runner._recovery, 10)
    assert slot.state is ServiceState.RUNNING
    assert session.engine.started == 1 and runner.restarts == 1
    assert seen == [("running", "failed"), ("failed", "starting"), ("starting", "running")]
    assert runner.forward is not None and runner.forward.backend == f"http://127.0.0.1:{answering_ports[1]}"
    await runner.forward.stop()


async def test_persistently_unhealthy_is_restarted(tmp_path: Path, answering_ports: list[int]) -> None:
    runner, slot, session = runner_and_slot(tmp_path, answering_ports)
    runner._on_event(slot, "health_status: unhealthy", {})
    assert slot.state is ServiceState.DEGRADED
    await asyncio.wait_for(runner._unhealthy, 5)  # type: ignore[arg-type]
    assert runner._recovery is not None
    await asyncio.wait_for(runner._recovery, 10)
    assert slot.state is ServiceState.RUNNING and session.engine.started == 1


async def test_restarts_give_up_after_the_limit(tmp_path: Path, answering_ports: list[int]) -> None:
    runner, slot, session = runner_and_slot(tmp_path, answering_ports)

    def broken_start(ident: str) -> ContainerInfo:
        session.engine.started += 1
        session.engine.current = info(status="exited", health=None)
        return session.engine.current

    session.engine.start = broken_start  # type: ignore[method-assign]
    runner._on_event(slot, "die", {})
    await asyncio.wait_for(runner._recovery, 30)  # type: ignore[arg-type]
    assert slot.state is ServiceState.FAILED and "restart failed" in (slot.error or "")
    assert session.engine.started == runner.restart_attempts


async def test_events_are_ignored_while_stopping(tmp_path: Path, answering_ports: list[int]) -> None:
    runner, slot, _ = runner_and_slot(tmp_path, answering_ports)
    runner._stopping = True
    runner._on_event(slot, "die", {})
    assert slot.state is ServiceState.RUNNING and runner._recovery is None
