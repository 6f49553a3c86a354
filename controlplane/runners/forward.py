"""Forwarding to a service that runs elsewhere (a container, a compose service).

:class:`ForwardingService` is the ``Service`` the gateway calls for such a service: it
streams the request to the backend and the response back, chunk by chunk, behind a
:class:`CircuitBreaker`. :func:`tcp_pass_through` pipes raw TCP (AMQP) to a backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric

from controlplane.adapter import SERVICE_DETAILS_PATH, AmqpHandler, Operation, RequestTarget, Service
from controlplane.gateway.errors import ServerBusy
from controlplane.gateway.metrics import SERVICE_METRICS_PATH, parse_families
from controlplane.runners.upstream import UpstreamPool, UpstreamUnavailable

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
)
# The gateway sets these on every response itself.
_GATEWAY_SET = frozenset({b"x-ms-request-id", b"x-ms-version"})
_DROPPED_RESPONSE_HEADERS = _HOP_BY_HOP | _GATEWAY_SET
# The gateway has already answered any Expect: 100-continue, and streams the body on.
_DROPPED_REQUEST_HEADERS = _HOP_BY_HOP | {b"expect"}
_RETRY_AFTER = {"Retry-After": "5"}


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Opens after ``threshold`` failures in a row; after ``reset_after`` seconds lets one
    probe through (half-open): its success closes the breaker, its failure re-opens it."""

    def __init__(
        self, name: str, threshold: int = 5, reset_after: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.transitions: dict[BreakerState, int] = {}
        """How often the breaker moved into each state (for the metrics)."""
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """May a request go to the backend now? (Half-open admits one probe at a time.)"""
        if self.state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_after:
            self._move(BreakerState.HALF_OPEN)
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self._probing = False
        self._move(BreakerState.CLOSED)

    def failure(self) -> None:
        self.failures += 1
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN)

    def reset(self) -> None:
        """The backend was replaced (e.g. restarted): give it a fresh chance."""
        self.failures = 0
        self._probing = False
        self._move(BreakerState.CLOSED)

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            log.warning("circuit breaker %s: %s -> %s", self.name, self.state, state, extra={"service": self.name})
            self.state = state
            self.transitions[state] = self.transitions.get(state, 0) + 1


class ForwardingService(Service):
    """Streams requests to ``backend`` (``http://host:port``), which authenticates them itself."""

    auth_scheme = "none"
    error_format = "xml"
    metrics_timeout = 2.0
    """Seconds a scrape waits for the backend's metrics."""

    def __init__(
        self,
        name: str,
        backend: str,
        error_format: str = "xml",
        breaker: CircuitBreaker | None = None,
        timeout: float = 60.0,
        details: Callable[[], Mapping[str, Any]] | None = None,
        speaks_amqp: bool = False,
    ) -> None:
        self.name = name
        self.error_format = error_format
        self._amqp = tcp_pass_through(name, self._address) if speaks_amqp else None
        self.breaker = breaker or CircuitBreaker(name)
        self._details = details
        self._timeout = timeout
        self.backend = ""
        self._pool: UpstreamPool | None = None
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self.retarget(backend)

    def retarget(self, backend: str) -> None:
        """The backend moved (a restarted container gets a new address or published port)."""
        backend = backend.rstrip("/")
        if backend != self.backend:
            if self.backend:
                log.info("service %s now forwards to %s", self.name, backend, extra={"service": self.name})
            url = urllib.parse.urlsplit(backend)
            if self._pool is not None:
                self._pool.close()
            self._pool = UpstreamPool(url.hostname or "127.0.0.1", url.port or 80, read_timeout=self._timeout)
            self.backend = backend
        self.breaker.reset()

    def amqp(self) -> AmqpHandler | None:
        return self._amqp

    def _address(self) -> tuple[str, int]:
        assert self._pool is not None
        return self._pool.host, self._pool.port

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        # The backend names and authorizes the operation; the gateway only needs a label.
        kind = query.get("comp") or query.get("restype") or ""
        return Operation(name=f"{method} {kind}".strip(), anonymous=True)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not self.breaker.allow():
            raise ServerBusy(f"The service '{self.name}' is not answering; retry later.", headers=_RETRY_AFTER)
        assert self._pool is not None
        try:
            response = await self._pool.request(
                scope["method"],
                _raw_target(scope),
                _request_headers(scope),
                _body(receive) if _has_body(scope) else None,
            )
        except UpstreamUnavailable as exc:
            self.breaker.failure()
            log.warning("forwarding to %s failed: %s", self.backend, exc, extra={"service": self.name})
            raise ServerBusy(
                f"The service '{self.name}' is not answering; retry later.", headers=_RETRY_AFTER
            ) from None
        self.breaker.success()
        headers = [(k, v) for k, v in response.headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        async for chunk in response.body():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._http is not None:
            self._http.close()

    def metrics(self) -> list[Metric]:
        """The backend's own families, fetched from its port (a LocalZure service in a container
        serves them there); none while the breaker is open, or from a backend without them
        (Azurite answers that path with an error)."""
        text = self._fetch(SERVICE_METRICS_PATH, "text/plain")
        if text is None:
            return []
        try:
            return parse_families(text)
        except ValueError as exc:
            log.warning("metrics of %s unreadable: %s", self.name, exc, extra={"service": self.name})
            return []

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {"backend": self.backend, "circuit": str(self.breaker.state)}
        info.update(self._backend_details())
        if self._details is not None:
            info.update(self._details())
        return info

    def _backend_details(self) -> dict[str, Any]:
        """The backend's own health details (Service Bus: its entities' counts), fetched from its
        port as the metrics are; none while the breaker is open, or from a backend without them."""
        text = self._fetch(SERVICE_DETAILS_PATH, "application/json")
        if text is None:
            return {}
        try:
            details = json.loads(text)
        except ValueError:
            return {}
        return details if isinstance(details, dict) else {}

    def _fetch(self, path: str, content_type: str) -> str | None:
        """GET one of the backend's own LocalZure paths (blocking: scrapes and the admin API
        call it from worker threads); None unless it answers 200 with ``content_type``."""
        if self.breaker.state is BreakerState.OPEN:
            return None
        import httpx  # only scrapes and the admin API need it: kept off the start-up path

        with self._http_lock:
            if self._http is None:
                # One client for good: each new one builds an SSL context, ~50 ms of CPU.
                self._http = httpx.Client(timeout=self.metrics_timeout, trust_env=False)
            client = self._http
        try:
            response = client.get(self.backend + path)
        except httpx.HTTPError as exc:
            log.debug("%s of %s unavailable: %s", path, self.name, exc, extra={"service": self.name})
            return None
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith(content_type):
            return None
        return response.text


def _raw_target(scope: dict) -> bytes:
    # raw_path keeps the client's percent-encoding, which SharedKey signatures cover.
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return path + b"?" + query if query else path


def _request_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    # Host is kept: path-style URLs keep their account segment and hostname-style
    # requests keep the account in the Host, where the backend looks for it.
    return [(k, v) for k, v in scope["headers"] if k.lower() not in _DROPPED_REQUEST_HEADERS]


def _has_body(scope: dict) -> bool:
    for key, value in scope["headers"]:
        name = key.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _body(receive: Callable) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def tcp_pass_through(name: str, backend: Callable[[], tuple[str, int]]) -> AmqpHandler:
    """An AMQP handler that pipes the connection's bytes to ``backend()`` and back, unread
    (the backend runs the AMQP server; the gateway's listener only sniffed the first bytes)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = backend()
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("%s: backend %s:%d refused: %s", name, host, port, exc, extra={"service": name})
            writer.close()
            return
        to_backend = asyncio.ensure_future(_pipe(reader, up_writer))
        try:
            # The backend's end ends the connection: a client that cannot half-close (AMQP
            # over a WebSocket) would otherwise never learn that the AMQP server closed.
            await _pipe(up_reader, writer)
        finally:
            to_backend.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await to_backend
            up_writer.close()
            writer.close()

    return serve


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
