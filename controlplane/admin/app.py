"""The admin REST API under ``/_localzure`` (and ``/health``), served on the edge port."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from controlplane import __version__
from controlplane.config import redacted
from controlplane.gateway.faults import FaultRule
from controlplane.gateway.metrics import CONTENT_TYPE
from controlplane.gateway.ratelimit import RateLimitRule
from controlplane.logs import log_ring

if TYPE_CHECKING:
    from controlplane.runtime import Runtime

PREFIX = "/_localzure"


class FaultRules(BaseModel):
    rules: list[FaultRule]


class RateLimitRules(BaseModel):
    rules: list[RateLimitRule]


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

    def authorized(
        authorization: str | None = Header(None), x_localzure_admin_token: str | None = Header(None)
    ) -> None:
        token = runtime.admin_token
        if token is None:
            return
        given = x_localzure_admin_token or (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "this endpoint needs the admin token (Authorization: Bearer <token>)")

    mutating = [Depends(authorized)]

    @app.get(f"{PREFIX}/faults", summary="Fault-injection rules with how often each matched and fired")
    def faults() -> dict[str, Any]:
        return {"rules": runtime.gateway.faults.describe()}

    @app.post(f"{PREFIX}/faults", summary="Add fault-injection rules", dependencies=mutating)
    def add_faults(body: FaultRules) -> dict[str, Any]:
        added = runtime.gateway.faults.add(body.rules)
        return {"rules": [fault.describe() for fault in added]}

    @app.delete(f"{PREFIX}/faults", summary="Remove every fault-injection rule", dependencies=mutating)
    def clear_faults() -> dict[str, Any]:
        return {"removed": runtime.gateway.faults.clear()}

    @app.get(f"{PREFIX}/rate-limits", summary="Rate-limit rules and how many requests they refused")
    def rate_limits() -> dict[str, Any]:
        limiter = runtime.gateway.limiter
        return {"rules": [rule.model_dump() for rule in limiter.rules], "rejected": limiter.rejected}

    @app.put(f"{PREFIX}/rate-limits", summary="Replace the rate-limit rules", dependencies=mutating)
    def set_rate_limits(body: RateLimitRules) -> dict[str, Any]:
        runtime.gateway.limiter.replace(body.rules)
        return {"rules": [rule.model_dump() for rule in body.rules]}

    @app.get(f"{PREFIX}/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        if runtime.metrics is None:
            raise HTTPException(404, "metrics are off (metrics: false in the config)")
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    @app.post(f"{PREFIX}/reset", summary="Wipe every service's state", dependencies=mutating)
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

    @app.get(f"{PREFIX}/cert.pem", summary="The local CA certificate (PEM) to trust for HTTPS and the proxy")
    async def ca_certificate() -> Response:
        authority = await runtime.tls.get()
        headers = {"Content-Disposition": 'attachment; filename="localzure-ca.pem"'}
        return Response(authority.ca_pem, media_type="application/x-pem-file", headers=headers)

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
