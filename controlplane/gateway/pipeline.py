"""The gateway's request path, assembled in one place.

correlation id -> drain check -> limits on headers and body -> route (hostname or port)
-> name the operation -> faults -> rate limit -> authenticate -> trace context -> the
service -> durable state before the response starts -> metrics.
Errors from any step are rendered by :func:`render_error` in the service's format.
A WebSocket upgrade is routed the same way, then served as AMQP for a service that speaks
it (:mod:`controlplane.gateway.amqp_websocket`) or refused with such an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from controlplane.adapter import SERVICE_DETAILS_PATH, RequestContext, RequestTarget, Service
from controlplane.admin.mount import is_admin_path
from controlplane.gateway.amqp_websocket import amqp_endpoint, serve_amqp
from controlplane.gateway.authenticate import authenticate
from controlplane.gateway.errors import AzureError, InternalError, RequestBodyTooLarge, ServerBusy, render_error
from controlplane.gateway.faults import FaultInjector
from controlplane.gateway.http import header, parse_query, send_response
from controlplane.gateway.inflight import InFlight
from controlplane.gateway.metrics import (
    CONTENT_TYPE,
    SERVICE_METRICS_PATH,
    GatewayMetrics,
    render_families,
    service_families,
)
from controlplane.gateway.ratelimit import RateLimiter
from controlplane.gateway.routing import HostRouter, route_path_style
from controlplane.gateway.tracing import next_hop
from controlplane.ids import new_guid
from controlplane.logs import correlation_id, service_name, trace_id
from controlplane.state.backend import StateBackend

log = logging.getLogger(__name__)

ASGI = Callable[..., Any]
_RETRY_AFTER_SECONDS = "5"
_DEFAULT_VERSION = b"2025-11-05"
WEBSOCKET_UPGRADE = "WebSocketUpgrade"
"""The operation name WebSocket handshakes are measured under."""


class ServiceSlot(Protocol):
    """What the gateway needs of a running service (the runtime owns it)."""

    service: Service | None
    backend: StateBackend | None


class RequestHeadersTooLarge(AzureError):
    status = 431
    code = "RequestHeaderFieldsTooLarge"
    message = "The request headers are larger than the server accepts."


@dataclass
class Gateway:
    slots: Mapping[str, ServiceSlot]
    router: HostRouter
    inflight: InFlight
    keys: Callable[[], Mapping[str, bytes]]
    admin: ASGI | None = None
    faults: FaultInjector = field(default_factory=FaultInjector)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    metrics: GatewayMetrics | None = None
    tracing: bool = True
    max_header_bytes: int = 64 * 1024
    body_limits: Mapping[str, int] = field(default_factory=dict)
    """Service name -> largest request body it accepts (absent: the service decides)."""
    accountless: frozenset[str] = frozenset()
    """Services whose paths on their own port carry no account (see ``Adapter.account_in_path``)."""

    def port_app(self, name: str) -> ASGI:
        """A service's own port: path-style (or hostname-style when the Host names it)."""
        in_path = name not in self.accountless

        async def app(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] == "http" and scope["method"] == "GET":
                if scope["path"] == SERVICE_METRICS_PATH and self.metrics is not None:
                    return await self._service_metrics(name, send)
                if scope["path"] == SERVICE_DETAILS_PATH:
                    return await self._service_details(name, send)
            host = header(scope, b"host") or ""

            def route() -> RequestTarget:
                return route_path_style(name, host, scope["path"], self.router, in_path)

            if scope["type"] == "http":
                await self._serve(scope, receive, send, route)
            elif scope["type"] == "websocket":
                await self._serve_websocket(scope, receive, send, route)
            else:
                await _lifespan(scope, receive, send)

        return app

    async def _service_metrics(self, name: str, send: Callable) -> None:
        """One service's own families, on its own port: how a container reports them. (No entity,
        account or container name can start with '_', so the path shadows no resource.)"""
        await self._service_own(
            name, send, lambda service: render_families(service_families(name, service)), CONTENT_TYPE
        )

    async def _service_details(self, name: str, send: Callable) -> None:
        """One service's own health details, on its own port: how a container reports them."""
        await self._service_own(name, send, lambda service: orjson.dumps(service.health()), "application/json")

    async def _service_own(
        self, name: str, send: Callable, render: Callable[[Service], bytes], content_type: str
    ) -> None:
        slot = self.slots.get(name)
        service = slot.service if slot is not None else None
        if service is None:
            return await send_response(send, 503, body=b"not running\n", content_type="text/plain")
        # In a thread: a forwarding service asks its backend over HTTP (as the admin API and the
        # edge's scrape, which run in worker threads too).
        body = await asyncio.to_thread(render, service)
        await send_response(send, 200, body=body, content_type=content_type)

    def edge_app(self) -> ASGI:
        """The edge port: admin paths, else routing by Host header."""

        async def app(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] == "websocket":
                host = header(scope, b"host") or ""
                return await self._serve_websocket(scope, receive, send, lambda: self.router.route(host, scope["path"]))
            if scope["type"] != "http":
                return await _lifespan(scope, receive, send)
            path = scope["path"]
            if self.admin is not None and is_admin_path(path):
                return await self.admin(scope, receive, send)
            host = header(scope, b"host") or ""
            scope["headers"].append((b"x-original-host", host.encode("latin-1")))
            await self._serve(scope, receive, send, lambda: self.router.route(host, path))

        return app

    async def _serve(self, scope: dict, receive: Callable, send: Callable, route: Callable[[], RequestTarget]) -> None:
        client_request_id = header(scope, b"x-ms-client-request-id")
        request_id = client_request_id or new_guid()
        echo = [(b"x-ms-request-id", request_id.encode())]
        if client_request_id is not None:
            echo.append((b"x-ms-client-request-id", client_request_id.encode("latin-1")))
        token = correlation_id.set(request_id)
        error_format = "xml"
        if not self.inflight.enter():
            busy = ServerBusy(headers={"Retry-After": _RETRY_AFTER_SECONDS})
            await _send_error(send, busy, error_format, request_id, echo)
            correlation_id.reset(token)
            return
        began = time.perf_counter()
        status = 500
        labels = ("-", "-")
        service_token = trace_token = None
        try:
            self._check_headers(scope)
            target = route()
            labels = (target.service, "-")
            slot = self.slots.get(target.service)
            service = slot.service if slot is not None else None
            if slot is None or service is None:
                raise ServerBusy(
                    f"The service '{target.service}' is not running.", headers={"Retry-After": _RETRY_AFTER_SECONDS}
                )
            error_format = service.error_format
            service_token = service_name.set(target.service)
            query = parse_query(scope["query_string"])
            operation = service.resolve(scope["method"], target, query)
            labels = (target.service, operation.name)
            self._check_body(scope, target.service)
            if self.faults:
                await self._inject_fault(target.service, operation.name)
            if self.limiter:
                await self._limit(scope, target, error_format)
            context = RequestContext(request_id=request_id, target=target, operation=operation, query=query)
            context.auth = authenticate(service, scope, context, self.keys())
            if self.tracing:
                trace_token = trace_id.set(self._trace(scope))
            scope["localzure"] = context
            started = False

            async def send_durably(message: dict) -> None:
                nonlocal started, status
                if message["type"] == "http.response.start":
                    started = True
                    status = message["status"]
                    if slot.backend is not None and slot.backend.pending:
                        await slot.backend.flush()
                    message["headers"] = [
                        *message.get("headers", ()),
                        *echo,
                        (b"x-ms-version", (header(scope, b"x-ms-version") or "").encode() or _DEFAULT_VERSION),
                    ]
                await send(message)

            try:
                await service.handle(scope, receive, send_durably)
            except AzureError:
                if started:
                    raise InternalError() from None
                raise
        except AzureError as error:
            status = error.status
            if error.status >= 500:
                log.warning("request failed: %s", error)
            await _send_error(send, error, error_format, request_id, echo)
        except asyncio.CancelledError:
            # Shutdown cut the request off after the drain timeout: say so the way Azure does.
            status = 503
            busy = ServerBusy("The server is shutting down.", headers={"Retry-After": _RETRY_AFTER_SECONDS})
            await _send_error(send, busy, error_format, request_id, echo)
            raise
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            await _send_error(send, InternalError(), error_format, request_id, echo)
        finally:
            self.inflight.leave()
            elapsed = time.perf_counter() - began
            if self.metrics is not None:
                self.metrics.observe(labels[0], labels[1], status, elapsed)
            log.debug("%s %s %s -> %d in %.1f ms", labels[0], labels[1], scope["path"], status, elapsed * 1000)
            correlation_id.reset(token)
            if service_token is not None:
                service_name.reset(service_token)
            if trace_token is not None:
                trace_id.reset(trace_token)

    async def _serve_websocket(
        self, scope: dict, receive: Callable, send: Callable, route: Callable[[], RequestTarget]
    ) -> None:
        """A WebSocket upgrade: AMQP for a service that speaks it (Service Bus), an HTTP error otherwise.

        Only the handshake is a request (measured, refused while draining); the connection
        that follows lives as long as an AMQP connection on a raw socket does.
        """
        request_id = new_guid()
        token = correlation_id.set(request_id)
        began = time.perf_counter()
        service = "-"
        error_format = "xml"
        try:
            if (await receive())["type"] != "websocket.connect":
                return  # the client left before its upgrade was answered
            try:
                if not self.inflight.accepting:
                    raise ServerBusy("The server is shutting down.", headers={"Retry-After": _RETRY_AFTER_SECONDS})
                self._check_headers(scope)
                target = route()
                service = target.service
                slot = self.slots.get(service)
                running = slot.service if slot is not None else None
                if running is None:
                    raise ServerBusy(
                        f"The service '{service}' is not running.", headers={"Retry-After": _RETRY_AFTER_SECONDS}
                    )
                error_format = running.error_format
                handler = amqp_endpoint(scope, running.amqp())
            except AzureError as error:
                self._observe_upgrade(service, error.status, began)
                status, headers, body = render_error(error, error_format, request_id)
                await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
                return
            self._observe_upgrade(service, 101, began)
            await serve_amqp(receive, send, handler)
        finally:
            correlation_id.reset(token)

    def _observe_upgrade(self, service: str, status: int, began: float) -> None:
        elapsed = time.perf_counter() - began
        if self.metrics is not None:
            self.metrics.observe(service, WEBSOCKET_UPGRADE, status, elapsed)
        log.debug("%s websocket upgrade -> %d in %.1f ms", service, status, elapsed * 1000)

    def _check_headers(self, scope: dict) -> None:
        size = 0
        for key, value in scope["headers"]:
            size += len(key) + len(value) + 4
        if size > self.max_header_bytes:
            raise RequestHeadersTooLarge()

    def _check_body(self, scope: dict, service: str) -> None:
        limit = self.body_limits.get(service)
        if limit is None:
            return
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RequestBodyTooLarge(details={"MaxLimit": str(limit)})

    async def _inject_fault(self, service: str, operation: str) -> None:
        fault = self.faults.pick(service, operation)
        if fault is None:
            return
        if self.metrics is not None:
            self.metrics.faults.labels(service, operation).inc()
        await self.faults.inject(fault, service, operation)

    async def _limit(self, scope: dict, target: RequestTarget, error_format: str) -> None:
        client = scope.get("client")
        try:
            await self.limiter.check(
                target.service, target.account, client[0] if client else "-", storage=error_format != "json"
            )
        except AzureError:
            if self.metrics is not None:
                self.metrics.rate_limited.labels(target.service).inc()
            raise

    @staticmethod
    def _trace(scope: dict) -> str:
        """Continue the caller's trace (or start one); backends see the gateway's span as parent."""
        trace, parent = next_hop(header(scope, b"traceparent"))
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"traceparent"]
        scope["headers"].append((b"traceparent", parent.encode()))
        return trace


async def _send_error(
    send: Callable, error: AzureError, fmt: str, request_id: str, echo: list[tuple[bytes, bytes]]
) -> None:
    status, headers, body = render_error(error, fmt, request_id)
    headers.extend(echo[1:])  # render_error sets x-ms-request-id itself
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    except RuntimeError:
        # The response had already started: the connection is closed by the server.
        log.debug("could not send error response: response already started")


async def _lifespan(scope: dict, receive: Callable, send: Callable) -> None:
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
