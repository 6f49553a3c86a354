"""An accepted ASGI WebSocket as an asyncio stream pair.

A byte-stream protocol handler (the AMQP engine, or Docker mode's pass-through to the
container) then runs over the socket's binary messages unchanged: what arrives in each
message is fed to a ``StreamReader``, what the handler writes leaves as binary messages.
Message boundaries carry no meaning here (AMQP over WebSocket frames a byte stream), so
writes made while a send is in progress are joined into the next message.

Flow control is the ordinary asyncio one in both directions: the reader pauses the
receiving loop when its buffer is full (the WebSocket server then stops reading the
socket), and the handler's ``drain()`` waits while unsent bytes are over the high mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from controlplane.gateway.streams import PushReader

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
NORMAL_CLOSURE = 1000
UNSUPPORTED_DATA = 1003
"""The close code for a text message: the byte stream is carried in binary messages only."""


class WebSocketTransport(asyncio.Transport):
    """The handler's transport: what it writes is buffered and sent by :meth:`send_loop`, what the
    peer sends is fed to its protocol by :meth:`receive_loop` (paused while the reader is full)."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self._send = send
        self._protocol: asyncio.BaseProtocol | None = None
        self._pending = bytearray()
        self._ready = asyncio.Event()
        self._closing = False
        self._disconnected = False
        self._writing_paused = False
        self._reading = asyncio.Event()
        self._reading.set()
        self.close_code = NORMAL_CLOSURE

    # ---- asyncio.Transport ----------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._disconnected or not data:
            return
        self._pending += data
        self._ready.set()
        if not self._writing_paused and len(self._pending) > HIGH_WATER and self._protocol is not None:
            self._writing_paused = True
            self._protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return len(self._pending)

    def can_write_eof(self) -> bool:
        # WebSocket has no half-close: the end of the stream is the close frame.
        return False

    def is_closing(self) -> bool:
        return self._closing or self._disconnected

    def close(self) -> None:
        """Send what is buffered, then the close frame (asyncio's contract for ``close``)."""
        self._closing = True
        self._ready.set()
        # Unpause reading so the receiving loop gets to the peer's close and ends.
        self._reading.set()

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    # ---- the two loops ------------------------------------------------------------------

    async def send_loop(self) -> None:
        """Send buffered bytes until closed, then the close frame; stops when the peer is gone."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                if self._pending and not self._disconnected:
                    data = bytes(self._pending)
                    self._pending.clear()
                    await self._send({"type": "websocket.send", "bytes": data})
                if self._writing_paused and len(self._pending) <= LOW_WATER and self._protocol is not None:
                    self._writing_paused = False
                    self._protocol.resume_writing()
                if self._disconnected:
                    return
                if self._closing and not self._pending:
                    await self._send({"type": "websocket.close", "code": self.close_code})
                    return
        except (OSError, RuntimeError) as exc:
            # uvicorn raises ClientDisconnected (an OSError) once the socket is gone, RuntimeError once it
            # has closed: either way nothing more can be sent, which the handler hears as a reset.
            log.debug("websocket: send stopped: %s", exc)
            self._lost(ConnectionResetError(f"WebSocket closed: {exc}"))

    async def receive_loop(self, receive: Receive) -> None:
        """Feed binary messages to the protocol until the peer disconnects (or closes)."""
        protocol = self.get_protocol()
        assert isinstance(protocol, asyncio.Protocol)
        while not self._disconnected:
            await self._reading.wait()
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self._lost(None)
            elif kind == "websocket.receive" and not self._closing:
                data = message.get("bytes")
                if data is None:
                    self.close_code = UNSUPPORTED_DATA
                    protocol.eof_received()
                    self.close()
                elif data:
                    protocol.data_received(data)

    def _lost(self, exc: Exception | None) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        self._pending.clear()
        self._ready.set()
        if self._protocol is not None:
            self._protocol.connection_lost(exc)


async def serve_stream(receive: Receive, send: Send, handler: StreamHandler) -> None:
    """Run ``handler`` over an accepted WebSocket until both sides are done with it."""
    loop = asyncio.get_running_loop()
    reader = PushReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = WebSocketTransport(send)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    sending = asyncio.create_task(transport.send_loop(), name="websocket:send")
    receiving = asyncio.create_task(transport.receive_loop(receive), name="websocket:receive")
    try:
        await handler(reader, writer)
    finally:
        writer.close()
        try:
            # Both end on their own once the close frame is out (the server then reports the disconnect).
            await asyncio.gather(sending, receiving)
        finally:
            for task in (sending, receiving):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sending, receiving, return_exceptions=True)
