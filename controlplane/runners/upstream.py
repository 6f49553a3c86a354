"""A lean HTTP/1.1 client for forwarding to one backend: pooled keep-alive connections,
each request's head written in one piece, responses parsed by httptools and handed on
chunk by chunk.

It exists for speed: with aiohttp's client the gateway spent about as much CPU on a
forwarded 1 KiB Get Blob as Azurite spent serving it (``bench/docker_mode``). Forwarding
needs little of a general client (no redirects, cookies, decompression or header
normalisation), so this does only what forwarding needs.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from typing import Any

import httptools

# Pooled connections idle longer than this are closed rather than reused: backends close
# idle keep-alive connections after 5 s (node's and uvicorn's default), and a request
# written onto a connection the backend is closing fails.
_IDLE_REUSE = 3.0
_BODY_HIGH_WATER = 256 * 1024


class UpstreamUnavailable(Exception):
    """Connecting failed, or the connection broke before the response began."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parses what the backend sends into response events."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.closed = False
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._headers: list[tuple[bytes, bytes]] = []

    # --- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # nothing was asked: the backend is misbehaving
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._push("lost", exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._push("lost", exc or ConnectionResetError("the backend closed the connection"))
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(ConnectionResetError("the backend closed the connection"))

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # --- httptools callbacks ----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._push("start", (self._parser.get_status_code(), self._headers))

    def on_body(self, body: bytes) -> None:
        self._buffered += len(body)
        if self._buffered > _BODY_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._push("body", body)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        self._push("end", self._parser.should_keep_alive())

    # --- used by the pool -------------------------------------------------------------

    def begin(self) -> None:
        """A new request goes out: parse its response afresh."""
        self._parser = httptools.HttpResponseParser(self)
        self._headers = []
        self._events.clear()
        self._buffered = 0

    async def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.closed:
            raise ConnectionResetError("the backend closed the connection")
        self.transport.write(data)
        if self._drained is not None:
            await self._drained

    async def next_event(self, timeout: float) -> tuple[str, Any]:
        while not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
            finally:
                self._waiter = None
        kind, value = self._events.popleft()
        if kind == "body":
            self._buffered -= len(value)
            if self._buffered <= _BODY_HIGH_WATER // 2 and self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return kind, value

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _push(self, kind: str, value: Any) -> None:
        self._events.append((kind, value))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Response:
    """A response whose head has arrived; iterate :meth:`body` for the rest."""

    def __init__(self, pool: UpstreamPool, connection: _Connection, status: int, headers: list, bodyless: bool):
        self.status = status
        self.headers: list[tuple[bytes, bytes]] = headers
        self._pool = pool
        self._connection = connection
        self._bodyless = bodyless

    async def body(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if self._bodyless:
            # HEAD, 204, 304: no body follows, whatever Content-Length says.
            self._pool.release(connection, keep_alive=True)
            return
        while True:
            kind, value = await connection.next_event(self._pool.read_timeout)
            if kind == "body":
                yield value
            elif kind == "end":
                self._pool.release(connection, keep_alive=value)
                return
            else:
                connection.close()
                raise ConnectionResetError(f"the backend broke off the response: {value}")


class UpstreamPool:
    """Keep-alive connections to ``host:port``, reused most-recent first."""

    def __init__(self, host: str, port: int, connect_timeout: float = 3.0, read_timeout: float = 60.0) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: collections.deque[_Connection] = collections.deque()

    async def request(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: AsyncIterator[bytes] | None
    ) -> Response:
        """Sends the request and waits for the response head.

        A request without a body that fails on a reused connection before any response
        is retried once on a new one (the backend may have closed it just then)."""
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        chunked = body is not None and not any(name.lower() == b"content-length" for name, _ in headers)
        if chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        data = b"".join(head)
        for attempt in (0, 1):
            connection, reused = await self._acquire()
            connection.begin()
            try:
                await connection.write(data)
                if body is not None:
                    async for chunk in body:
                        await connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    if chunked:
                        await connection.write(b"0\r\n\r\n")
                kind, value = await connection.next_event(self.read_timeout)
            except TimeoutError:
                connection.close()
                raise UpstreamUnavailable(f"{self.host}:{self.port} did not answer in time") from None
            except OSError as exc:
                connection.close()
                kind, value = "lost", exc
            if kind == "start":
                status, response_headers = value
                bodyless = method == "HEAD" or status in (204, 304)
                return Response(self, connection, status, response_headers, bodyless)
            connection.close()
            if not (reused and body is None and attempt == 0):
                raise UpstreamUnavailable(f"{self.host}:{self.port} closed the connection: {value}")
        raise AssertionError("unreachable")

    def release(self, connection: _Connection, keep_alive: bool) -> None:
        now = time.monotonic()
        if keep_alive and not connection.closed:
            connection.idle_since = now
            self._idle.append(connection)
        else:
            connection.close()
        # The least recently used end goes stale first (reuse takes the other end).
        while self._idle and (self._idle[0].closed or now - self._idle[0].idle_since >= _IDLE_REUSE):
            self._idle.popleft().close()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _acquire(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_REUSE:
                return connection, True
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}") from None
        return connection, False
