"""External mode: endpoints from config, health-checked over HTTP, the gateway in front."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from controlplane.runners.base import HttpListener, bind
from controlplane.runners.external import ExternalRunner
from controlplane.testing.server import LocalZureThread
from tests.support import wait_for


async def echo(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = f"{scope['method']} {scope['raw_path'].decode()}?{scope['query_string'].decode()}".encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


def test_external_services_are_forwarded_and_watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExternalRunner, "interval", 0.1)
    from controlplane.registry import discover

    backend_sock = bind("127.0.0.1", 0)
    backend_port = backend_sock.getsockname()[1]
    services = {name: {"port": 0, "endpoint": f"http://127.0.0.1:{backend_port}"} for name in discover()}
    localzure = LocalZureThread(tmp_path, mode="external", services=services)
    backend = HttpListener(echo, backend_sock, "backend")
    localzure._thread.start()
    localzure.call(backend.start())
    try:
        localzure.call(localzure.runtime.start())
        slot = localzure.runtime.slots["queue"]
        assert slot.runner.mode == "external" and str(slot.state) == "running"
        response = httpx.get(
            f"http://127.0.0.1:{localzure.port('queue')}/devstoreaccount1/q%20x/messages?peekonly=true"
        )
        assert response.text == "GET /devstoreaccount1/q%20x/messages?peekonly=true"
        localzure.call(backend.stop(0.1))
        wait_for(lambda: str(slot.state) == "degraded", timeout=10)
        assert httpx.get(f"http://127.0.0.1:{localzure.port('queue')}/devstoreaccount1/q").status_code == 503
    finally:
        localzure.stop()


def test_external_mode_without_an_endpoint_fails_naming_the_setting(tmp_path: Path) -> None:
    from controlplane.runtime import StartupError

    localzure = LocalZureThread(tmp_path, mode="external")
    localzure._thread.start()
    with pytest.raises(StartupError, match=r"services\.\w+\.endpoint"):
        localzure.call(localzure.runtime.start())
    localzure._loop.call_soon_threadsafe(localzure._loop.stop)
