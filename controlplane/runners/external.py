"""External mode: services run elsewhere (compose, Kubernetes); the control plane only
health-checks them over HTTP and keeps the gateway in front of them.

Each service's endpoint comes from config: ``services.<name>.endpoint`` (e.g.
``http://queue:10001``), optionally ``services.<name>.health_url`` (any answer below 500
from the endpoint counts as up otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from controlplane.runners.base import Runner, bind
from controlplane.runners.forward import ForwardingService
from controlplane.runners.host import service_listener

if TYPE_CHECKING:
    from controlplane.runtime import Runtime, ServiceSlot

log = logging.getLogger(__name__)


class ExternalRunner(Runner):
    mode = "external"
    interval = 2.0
    start_timeout = 60.0
    failures_to_degrade = 2

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.backend: str | None = None
        self.health_url: str | None = None
        self.forward: ForwardingService | None = None
        self.last_check: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, slot: ServiceSlot) -> None:
        extra = self.runtime.settings.service(slot.name).model_extra or {}
        endpoint = extra.get("endpoint")
        if not endpoint:
            raise ValueError(f"mode external needs services.{slot.name}.endpoint (e.g. http://{slot.name}:{slot.port})")
        self.backend = str(endpoint).rstrip("/")
        self.health_url = str(extra.get("health_url") or self.backend + "/")
        deadline = time.monotonic() + float(extra.get("start_timeout", self.start_timeout))
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while not await self._probe(client):
                if time.monotonic() > deadline:
                    raise ConnectionError(f"{self.health_url} not answering: {self.last_check.get('error')}")
                await asyncio.sleep(0.25)
        error_format = "xml" if slot.name in ("blob", "queue") else "json"
        self.forward = ForwardingService(slot.name, self.backend, error_format, speaks_amqp=slot.adapter.speaks_amqp)
        slot.service = self.forward
        sock = bind(self.runtime.settings.host, slot.port)
        slot.listener = service_listener(self.runtime, slot, sock)
        try:
            await slot.listener.start()
        except BaseException:
            sock.close()
            raise
        slot.port = slot.listener.port
        self._task = asyncio.create_task(self._watch(slot), name=f"health:{slot.name}")

    async def stop(self, slot: ServiceSlot) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if slot.listener is not None:
            await slot.listener.stop(self.runtime.stop_grace)
            slot.listener = None
        if self.forward is not None:
            await self.forward.stop()
            self.forward = None
        slot.service = None

    async def _probe(self, client: httpx.AsyncClient) -> bool:
        assert self.health_url is not None
        try:
            response = await client.get(self.health_url)
        except httpx.HTTPError as exc:
            self.last_check = {"ok": False, "error": str(exc) or type(exc).__name__, "at": time.time()}
            return False
        ok = response.status_code < 500
        self.last_check = {"ok": ok, "status": response.status_code, "at": time.time()}
        return ok

    async def _watch(self, slot: ServiceSlot) -> None:
        from controlplane.runtime import ServiceState

        failures = 0
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while True:
                await asyncio.sleep(self.interval)
                if await self._probe(client):
                    failures = 0
                    if slot.state is ServiceState.DEGRADED:
                        log.info("%s answers again", self.backend, extra={"service": slot.name})
                        slot.set_state(ServiceState.RUNNING)
                else:
                    failures += 1
                    if failures == self.failures_to_degrade and slot.state is ServiceState.RUNNING:
                        log.warning(
                            "%s not answering: %s",
                            self.backend,
                            self.last_check.get("error"),
                            extra={"service": slot.name},
                        )
                        slot.set_state(ServiceState.DEGRADED, error=f"{self.backend} not answering")

    def endpoint(self, slot: ServiceSlot) -> str | None:
        host = self.runtime.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{slot.port}"

    def health(self, slot: ServiceSlot) -> dict[str, Any]:
        return {"backend": self.backend, "last_check": self.last_check}
