"""The admin REST API under ``/_localzure`` (and ``/health``), served on the edge port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse

from controlplane import __version__
from controlplane.config import redacted
from controlplane.logs import log_ring

if TYPE_CHECKING:
    from controlplane.runtime import Runtime

PREFIX = "/_localzure"


def create_admin_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="LocalZure admin API",
        version=__version__,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )

    def slot_or_404(name: str) -> Any:
        slot = runtime.slots.get(name)
        if slot is None:
            raise HTTPException(404, f"unknown service '{name}' (known: {', '.join(runtime.slots)})")
        return slot

    @app.get(f"{PREFIX}/health", summary="Overall and per-service health")
    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, Any]:
        return runtime.health()

    @app.get(f"{PREFIX}/services", summary="Every service with its state, mode and endpoint")
    def services() -> list[dict[str, Any]]:
        return [runtime.describe(slot) for slot in runtime.slots.values()]

    @app.get(f"{PREFIX}/services/{{name}}", summary="One service")
    def service(name: str) -> dict[str, Any]:
        return runtime.describe(slot_or_404(name))

    @app.get(f"{PREFIX}/services/{{name}}/logs", summary="A service's recent log lines; follow=true streams NDJSON")
    async def service_logs(name: str, tail: int = Query(100, ge=0, le=10_000), follow: bool = False) -> Any:
        slot_or_404(name)
        return await _logs(name, tail, follow)

    @app.get(f"{PREFIX}/logs", summary="Recent log lines of the control plane and every service")
    async def all_logs(tail: int = Query(100, ge=0, le=10_000), follow: bool = False) -> Any:
        return await _logs(None, tail, follow)

    @app.post(f"{PREFIX}/reset", summary="Wipe every service's state")
    async def reset() -> dict[str, Any]:
        await runtime.reset()
        return {"reset": sorted(runtime.slots)}

    @app.get(f"{PREFIX}/config", summary="The effective configuration, secrets redacted")
    def config() -> dict[str, Any]:
        return redacted(runtime.settings)

    @app.get(f"{PREFIX}/connection-strings", summary="Ready-to-paste connection strings per service and account")
    def connection_strings() -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        for slot in runtime.slots.values():
            endpoint = slot.runner.endpoint(slot)
            if endpoint is None:
                continue
            for account, key in runtime.settings.accounts.items():
                text = slot.adapter.connection_string(account, key, endpoint)
                if text:
                    result.setdefault(slot.name, {})[account] = text
        return result

    return app


async def _logs(service: str | None, tail: int, follow: bool) -> Any:
    ring = log_ring()
    lines = ring.tail(service, tail)
    if not follow:
        return lines

    async def stream() -> AsyncIterator[bytes]:
        queue = ring.subscribe(service)
        try:
            for line in lines:
                yield orjson.dumps(line) + b"\n"
            while True:
                try:
                    line = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    yield b"\n"  # keeps idle connections (and proxies) from timing out
                    continue
                yield orjson.dumps(line) + b"\n"
        finally:
            ring.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="application/x-ndjson")
