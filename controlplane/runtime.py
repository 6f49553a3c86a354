"""The lifecycle: start services in dependency order, serve, drain, stop in reverse.

Runtime states: starting -> running -> draining -> stopping -> stopped (or failed).
Service states: uninitialized -> starting -> running -> stopping -> stopped (or failed).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controlplane import __version__
from controlplane.adapter import Adapter, Service
from controlplane.admin.mount import AdminMount
from controlplane.admin.token import is_loopback, issue_admin_token
from controlplane.config import Settings
from controlplane.gateway.inflight import InFlight
from controlplane.gateway.listener import TLS, SniffingListener
from controlplane.gateway.metrics import GatewayMetrics
from controlplane.gateway.pipeline import Gateway
from controlplane.gateway.proxy import ProxyPolicy
from controlplane.gateway.routing import HostRouter, url_route_service
from controlplane.runners.base import HttpListener, Runner, bind
from controlplane.state.backend import StateBackend
from controlplane.tls import AuthorityLoader

log = logging.getLogger(__name__)


class ServiceState(StrEnum):
    UNINITIALIZED = "uninitialized"
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class RuntimeState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class StartupError(Exception):
    """A service failed to start; the ones started before it were stopped again."""

    def __init__(self, service: str, cause: BaseException) -> None:
        self.service = service
        self.cause = cause
        super().__init__(f"service '{service}' failed to start: {cause}")


StateListener = Callable[[str, ServiceState, ServiceState], None]


@dataclass
class ServiceSlot:
    """One service as the runtime tracks it."""

    adapter: Adapter
    runner: Runner
    port: int
    state: ServiceState = ServiceState.UNINITIALIZED
    service: Service | None = None
    backend: StateBackend | None = None
    listener: HttpListener | SniffingListener | None = None
    started_at: float | None = None
    error: str | None = None
    listeners: list[StateListener] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.adapter.name

    def set_state(self, new: ServiceState, error: str | None = None) -> None:
        old, self.state = self.state, new
        if error is not None:
            self.error = error
        if old is not new:
            log.info("service %s: %s -> %s", self.name, old, new, extra={"service": self.name})
            for listener in self.listeners:
                listener(self.name, old, new)


@dataclass
class RouteSlot:
    """A ``hostname -> URL`` route from the config: forwarded, with no state of its own."""

    service: Service
    backend: StateBackend | None = None


def forwarder(name: str, url: str) -> Service:
    from controlplane.runners.forward import ForwardingService  # only configs with URL routes pay for it

    return ForwardingService(name, url, error_format="json")


class Runtime:
    def __init__(
        self, settings: Settings, adapters: list[Adapter], runner_for: Callable[[Runtime, Adapter], Runner]
    ) -> None:
        self.settings = settings
        self.keys = settings.account_keys()
        self.state = RuntimeState.STOPPED
        self.inflight = InFlight()
        self.slots: dict[str, ServiceSlot] = {}
        for adapter in adapters:
            port = settings.service(adapter.name).port
            self.slots[adapter.name] = ServiceSlot(
                adapter, runner_for(self, adapter), adapter.default_port if port is None else port
            )
        self.metrics = GatewayMetrics(self.slots, lambda: self.inflight.count) if settings.metrics else None
        router = HostRouter(adapters, settings.routes)
        self.route_slots = {
            url_route_service(host): RouteSlot(forwarder(url_route_service(host), url))
            for host, url in settings.routes.items()
            if "://" in url
        }
        self.gateway = Gateway(
            ChainMap(self.slots, self.route_slots),  # type: ignore[arg-type]
            router,
            self.inflight,
            lambda: self.keys,
            metrics=self.metrics,
            tracing=settings.tracing,
            max_header_bytes=settings.max_header_bytes,
            body_limits={
                name: limit
                for name, slot in self.slots.items()
                if (limit := settings.service(name).max_body_bytes or slot.adapter.max_body_bytes) is not None
            },
            accountless=frozenset(name for name, slot in self.slots.items() if not slot.adapter.account_in_path),
        )
        self.admin_token = settings.admin_token
        self.gateway.faults.replace(settings.faults)
        self.gateway.limiter.replace(settings.rate_limits)
        self.edge: SniffingListener | None = None
        self.edge_https: SniffingListener | None = None
        self.tls = AuthorityLoader(settings.tls_dir(), [s for a in adapters for s in a.hostname_suffixes])
        """The local CA and server certificate, loaded (or made) in the background at start."""
        self.started_monotonic: float | None = None
        self.stop_grace = 5.0
        """Seconds the listeners give requests still running when the drain timed out."""
        self._stopped = asyncio.Event()

    def apply_settings(self, settings: Settings) -> None:
        """Take settings that can change live (accounts, faults, rate limits; the caller sets log levels)."""
        old, self.settings = self.settings, settings
        self.keys = settings.account_keys()
        if settings.faults != old.faults:
            self.admin_token = settings.admin_token
        self.gateway.faults.replace(settings.faults)
        if settings.rate_limits != old.rate_limits:
            self.gateway.limiter.replace(settings.rate_limits)

    def on_service_state(self, listener: StateListener) -> None:
        for slot in self.slots.values():
            slot.listeners.append(listener)

    def _set(self, state: RuntimeState) -> None:
        if state is not self.state:
            log.info("runtime: %s -> %s", self.state, state)
            self.state = state

    async def start(self) -> None:
        """Start every service in order, then the edge; on a failure roll back and raise StartupError."""
        self._set(RuntimeState.STARTING)
        self.started_monotonic = time.monotonic()
        if self.admin_token is None and not is_loopback(self.settings.host):
            self.admin_token = issue_admin_token(self.settings.data_dir)
        admin = AdminMount(self)
        self.gateway.admin = admin
        started: list[ServiceSlot] = []
        for slot in self.slots.values():
            slot.set_state(ServiceState.STARTING)
            try:
                await slot.runner.start(slot)
            except Exception as exc:
                slot.set_state(ServiceState.FAILED, error=str(exc))
                log.error("service %s failed to start: %s", slot.name, exc, extra={"service": slot.name})
                await self._stop_slots(reversed(started))
                self._set(RuntimeState.FAILED)
                raise StartupError(slot.name, exc) from exc
            slot.started_at = time.time()
            slot.set_state(ServiceState.RUNNING)
            started.append(slot)
        try:
            await self._start_edge()
            admin.load()
        except Exception as exc:
            await self._stop_slots(reversed(started))
            self._set(RuntimeState.FAILED)
            raise StartupError("edge", exc) from exc
        self._set(RuntimeState.RUNNING)

    async def stop(self, timeout: float | None = None) -> None:
        """Drain in-flight requests (new ones get 503), then stop services in reverse order."""
        if self.state in (RuntimeState.STOPPING, RuntimeState.STOPPED, RuntimeState.DRAINING):
            await self._stopped.wait()
            return
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._set(RuntimeState.DRAINING)
        if not await self.inflight.drain(timeout):
            log.warning("shutdown: %d request(s) still in flight after %.1fs", self.inflight.count, timeout)
        self._set(RuntimeState.STOPPING)
        self.stop_grace = max(deadline - time.monotonic(), 0.1)
        for listener in (self.edge, self.edge_https):
            if listener is not None:
                await listener.stop(self.stop_grace)
        await self._stop_slots(reversed(list(self.slots.values())))
        for route in self.route_slots.values():
            await route.service.stop()
        self._set(RuntimeState.STOPPED)
        self._stopped.set()

    async def _start_edge(self) -> None:
        """The edge port (HTTP, TLS, CONNECT proxying, one socket) and the optional HTTPS-only edge port."""
        self.tls.start()
        https_port = self.settings.tls.edge_https_port
        if https_port is not None:
            await self.tls.get()  # an HTTPS port that cannot have a certificate is a start-up failure
        app = self.gateway.edge_app()
        proxy = ProxyPolicy(self.gateway.router)
        sock = bind(self.settings.host, self.settings.port)
        edge = SniffingListener(app, sock, "edge", tls=self.tls, proxy=proxy, amqp=self._edge_amqp)
        await edge.start()
        self.edge = edge
        if https_port is not None:
            try:
                sock = bind(self.settings.host, https_port)
                https = SniffingListener(
                    app, sock, "edge-https", tls=self.tls, proxy=proxy, amqp=self._edge_amqp, protocols={TLS}
                )
                await https.start()
            except BaseException:
                await edge.stop(0.1)
                raise
            self.edge_https = https

    async def _edge_amqp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """AMQP reaching the edge port (plain, or inside TLS for ``<namespace>.servicebus.windows.net``)
        goes to the running service that speaks it."""
        for slot in self.slots.values():
            handler = slot.service.amqp() if slot.service is not None else None
            if handler is not None:
                await handler(reader, writer)
                return
        log.info("AMQP connection on the edge closed: no running service speaks AMQP")

    async def _stop_slots(self, slots: Any) -> None:
        for slot in slots:
            if slot.state in (ServiceState.STOPPED, ServiceState.UNINITIALIZED):
                continue
            slot.set_state(ServiceState.STOPPING)
            try:
                await slot.runner.stop(slot)
            except Exception as exc:
                log.error("service %s failed to stop cleanly: %s", slot.name, exc, extra={"service": slot.name})
            slot.set_state(ServiceState.STOPPED)

    async def serve_until_signal(self) -> None:
        """Run until SIGINT/SIGTERM, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_requested.set)
        await stop_requested.wait()
        log.info("signal received: shutting down")
        await self.stop()

    async def reset(self) -> None:
        """Wipe every service's state."""
        for slot in self.slots.values():
            if slot.service is not None:
                await slot.service.reset()
                if slot.backend is not None:
                    await slot.backend.flush()

    def health(self) -> dict[str, Any]:
        # Without the services' own details: a container's come from its admin API (a blocking
        # request), and health answers on the event loop.
        services = {name: self.describe(slot, details=False) for name, slot in self.slots.items()}
        states = [slot.state for slot in self.slots.values()]
        if self.state is RuntimeState.RUNNING and all(s is ServiceState.RUNNING for s in states):
            status = "healthy"
        elif self.state is RuntimeState.RUNNING and any(s is ServiceState.RUNNING for s in states):
            status = "degraded"
        else:
            status = "unhealthy"
        uptime = time.monotonic() - self.started_monotonic if self.started_monotonic else 0.0
        return {
            "status": status,
            "state": str(self.state),
            "version": __version__,
            "services": {
                n: {k: s[k] for k in ("state", "mode", "endpoint", "container") if k in s} for n, s in services.items()
            },
            "uptime": round(uptime, 3),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def describe(self, slot: ServiceSlot, details: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": slot.name,
            "state": str(slot.state),
            "mode": slot.runner.mode,
            "endpoint": slot.runner.endpoint(slot),
            "port": slot.port,
            "depends_on": list(slot.adapter.depends_on),
            "hostnames": [f"<account>{suffix}" for suffix in slot.adapter.hostname_suffixes],
            "started_at": slot.started_at,
            "error": slot.error,
        }
        info.update(slot.runner.health(slot))
        if details and slot.service is not None:
            info["details"] = slot.service.health()
        return info
