"""uvicorn's HTTP protocol with the edges a public-facing emulator needs.

- A request whose line and headers do not arrive within ``HEADER_TIMEOUT`` seconds is
  dropped (slow clients holding connections open).
- The request line and headers are capped at ``HARD_HEADER_LIMIT`` bytes while they are
  read, so a hostile client cannot make the server buffer without bound (the gateway's
  configurable, smaller limit answers in the service's own error format later).
- Unparseable HTTP gets an XML error in Azure's shape instead of uvicorn's plain text.
- Writes made in one turn of the event loop go out in one send(): uvicorn writes a
  response's head and its body separately, two system calls where one does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from controlplane.gateway.errors import AzureError, render_error
from controlplane.ids import new_guid

HEADER_TIMEOUT = 30.0
HARD_HEADER_LIMIT = 1024 * 1024
CORK_LIMIT = 64 * 1024
"""Buffered bytes that are written at once rather than at the end of the loop's turn."""


class CorkedTransport:
    """A transport whose writes within one turn of the event loop are joined into one."""

    __slots__ = ("_transport", "_loop", "_buffer", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self.flush)
        self._buffer.append(data)
        self._size += len(data)
        if self._size >= CORK_LIMIT:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._buffer:
            data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
            self._buffer.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._buffer.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class InvalidHttpRequest(AzureError):
    status = 400
    code = "InvalidInput"
    message = "The request is not valid HTTP."


class HeadersTooLarge(AzureError):
    status = 431
    code = "RequestHeaderFieldsTooLarge"
    message = "The request headers are larger than the server accepts."


class AzureHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(InvalidHttpRequest(f"The request is not valid HTTP: {msg}"))

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > HARD_HEADER_LIMIT:
            self._refuse(HeadersTooLarge())
            # httptools turns this into a parse error: uvicorn stops reading, the refusal stands.
            raise OverflowError("request headers over the hard limit")

    def _refuse(self, error: AzureError) -> None:
        if self.transport.is_closing():
            return
        status, headers, body = render_error(error, "xml", new_guid())
        lines = [f"HTTP/1.1 {status} {error.code}\r\n".encode()]
        lines += [name + b": " + value + b"\r\n" for name, value in headers]
        lines.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(lines) + body)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
