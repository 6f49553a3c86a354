"""Lifecycle: start order, rollback on a failed start, draining on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest

from controlplane.adapter import Adapter, Operation, RequestTarget, Service, ServiceContext
from controlplane.config import load_settings
from controlplane.gateway.http import send_response
from controlplane.runners.host import HostRunner
from controlplane.runtime import Runtime, RuntimeState, ServiceState, StartupError


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Event()


class FakeService(Service):
    def __init__(self, name: str, recorder: Recorder, fail: bool) -> None:
        self.name, self.recorder, self.fail = name, recorder, fail

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        return Operation(name="Slow" if target.path == "/slow" else "Fast")

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["localzure"].operation.name == "Slow":
            self.recorder.entered.set()
            await self.recorder.release.wait()
        await send_response(send, 200, body=b"done")

    async def start(self) -> None:
        if self.fail:
            raise RuntimeError("disk on fire")
        self.recorder.events.append(f"start {self.name}")

    async def stop(self) -> None:
        self.recorder.events.append(f"stop {self.name}")

    def health(self) -> dict[str, object]:
        self.recorder.events.append(f"details of {self.name}")
        return {"entities": 1}


def fake(name: str, recorder: Recorder, *deps: str, fail: bool = False) -> Adapter:
    class Fake(Adapter):
        default_port = 0
        depends_on = deps

        def create_service(self, context: ServiceContext) -> Service:
            return FakeService(name, recorder, fail)

    adapter = Fake()
    adapter.name = name
    return adapter


def runtime_for(tmp_path: Path, adapters: list[Adapter]) -> Runtime:
    settings = load_settings(
        cli={"data_dir": tmp_path, "port": 0, "services": {a.name: {"port": 0} for a in adapters}}, env={}
    )
    return Runtime(settings, adapters, lambda runtime, adapter: HostRunner(runtime))


async def test_services_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder), fake("b", recorder, "a")])
    transitions: list[tuple[str, str]] = []
    runtime.on_service_state(lambda name, old, new: transitions.append((name, str(new))))
    await runtime.start()
    assert runtime.state is RuntimeState.RUNNING
    assert all(slot.state is ServiceState.RUNNING for slot in runtime.slots.values())
    await runtime.stop(timeout=5)
    assert recorder.events == ["start a", "start b", "stop b", "stop a"]
    assert ("a", "starting") in transitions and ("b", "stopped") in transitions
    assert runtime.state is RuntimeState.STOPPED


async def test_failed_start_rolls_back_and_names_the_service(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder), fake("b", recorder, fail=True)])
    with pytest.raises(StartupError) as info:
        await runtime.start()
    assert info.value.service == "b" and "disk on fire" in str(info.value)
    assert recorder.events == ["start a", "stop a"]
    assert runtime.slots["a"].state is ServiceState.STOPPED
    assert runtime.slots["b"].state is ServiceState.FAILED
    assert runtime.state is RuntimeState.FAILED


async def test_busy_port_fails_start_naming_the_port(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder)])
    await runtime.start()
    try:
        clash = runtime_for(tmp_path / "2", [fake("a", recorder)])
        clash.slots["a"].port = runtime.slots["a"].port
        with pytest.raises(StartupError) as info:
            await clash.start()
        assert f"port {runtime.slots['a'].port}" in str(info.value)
    finally:
        await runtime.stop(timeout=5)


async def test_stop_drains_in_flight_requests_and_refuses_new_ones(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder)])
    await runtime.start()
    base = f"http://127.0.0.1:{runtime.slots['a'].port}/acct"
    async with httpx.AsyncClient() as client:
        slow = asyncio.create_task(client.get(f"{base}/slow"))
        await asyncio.wait_for(recorder.entered.wait(), 5)
        stopping = asyncio.create_task(runtime.stop(timeout=10))
        await asyncio.sleep(0.05)
        assert runtime.state is RuntimeState.DRAINING
        refused = await client.get(f"{base}/fast")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert refused.headers["x-ms-error-code"] == "ServerBusy"
        assert not stopping.done()
        recorder.release.set()
        finished = await slow
        assert finished.status_code == 200 and finished.text == "done"
        await asyncio.wait_for(stopping, 10)
    assert runtime.state is RuntimeState.STOPPED
    assert recorder.events == ["start a", "stop a"]


async def test_drain_gives_up_after_the_timeout(tmp_path: Path) -> None:
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder)])
    await runtime.start()
    async with httpx.AsyncClient() as client:
        slow = asyncio.create_task(client.get(f"http://127.0.0.1:{runtime.slots['a'].port}/acct/slow"))
        await asyncio.wait_for(recorder.entered.wait(), 5)
        await asyncio.wait_for(runtime.stop(timeout=0.3), 10)
        assert runtime.state is RuntimeState.STOPPED
        assert recorder.events == ["start a", "stop a"]
        # The request that outlived the drain was cut off with Azure's busy answer.
        cut = await slow
        assert cut.status_code == 503 and cut.headers["x-ms-error-code"] == "ServerBusy"


async def test_health_answers_without_the_services_details(tmp_path: Path) -> None:
    """Health answers on the event loop; a container's details are a blocking request."""
    recorder = Recorder()
    runtime = runtime_for(tmp_path, [fake("a", recorder)])
    await runtime.start()
    try:
        assert runtime.health()["services"]["a"]["state"] == "running"
        assert recorder.events == ["start a"]
        assert runtime.describe(runtime.slots["a"])["details"] == {"entities": 1}
        assert recorder.events == ["start a", "details of a"]
    finally:
        await runtime.stop(timeout=5)
