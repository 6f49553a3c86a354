"""A frame-level AMQP client for the engine's tests: it sends exactly the frames a test writes
(including wrong ones) and hands back every frame the server sends, heartbeats included."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from adapters.servicebus.amqp.application import Application
from adapters.servicebus.amqp.connection import ConnectionSettings, serve
from adapters.servicebus.amqp.frames import AMQP_HEADER, SASL_HEADER, TYPE_SASL, FrameBuffer, encode_frame
from adapters.servicebus.amqp.performatives import Begin, Open, SaslInit, SaslMechanisms, SaslOutcome
from controlplane.gateway.streams import PushReader

TIMEOUT = 5.0


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = FrameBuffer(max_frame_size=1 << 24)

    async def _fill(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        if not data:
            return False
        self.buffer.feed(data)
        return True

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, performative: Any, channel: int = 0, payload: bytes = b"", frame_type: int = 0) -> None:
        self.writer.write(encode_frame(channel, performative, payload, frame_type))

    async def header(self) -> bytes:
        while (header := self.buffer.take(8)) is None:
            if not await self._fill():
                raise EOFError
        return header

    async def frame(self, *, heartbeats: bool = False) -> tuple[int, Any, bytes]:
        """The next frame as (channel, performative, payload); empty frames skipped unless asked for."""
        while True:
            while (frame := self.buffer.next_frame()) is None:
                if not await self._fill():
                    raise EOFError
            performative, payload = frame.decode()
            if performative is not None or heartbeats:
                return frame.channel, performative, payload

    async def expect(self, kind: type) -> Any:
        _, performative, _ = await self.frame()
        assert isinstance(performative, kind), f"expected {kind.__name__}, got {performative!r}"
        return performative

    async def closed(self) -> bool:
        """True once the server closed the socket (after any frames still in flight)."""
        with contextlib.suppress(ConnectionError):
            while await self._fill():
                pass
        return True

    async def sasl(self, mechanism: str = "ANONYMOUS", response: bytes = b"") -> SaslOutcome:
        self.write(SASL_HEADER)
        assert await self.header() == SASL_HEADER
        _, mechanisms, _ = await self.frame()
        assert isinstance(mechanisms, SaslMechanisms)
        self.send(SaslInit(mechanism=mechanism, initial_response=response, hostname="localhost"), frame_type=TYPE_SASL)
        _, outcome, _ = await self.frame()
        return outcome

    async def open(self, **fields: Any) -> Open:
        self.write(AMQP_HEADER)
        assert await self.header() == AMQP_HEADER
        self.send(Open(container_id="raw-client", **fields))
        return await self.expect(Open)

    async def begin(self, channel: int = 0, incoming_window: int = 1000) -> Begin:
        self.send(Begin(next_outgoing_id=0, incoming_window=incoming_window, outgoing_window=1000), channel)
        return await self.expect(Begin)


class Server:
    """``serve`` on a loopback port; ``finished`` counts connections whose ``serve`` returned."""

    def __init__(self, app: Application, settings: ConnectionSettings) -> None:
        self.app = app
        self.settings = settings
        self.finished = 0
        self.errors: list[BaseException] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer, self.app, settings=self.settings)
        except BaseException as exc:  # the engine promises not to raise: record it to fail the test
            self.errors.append(exc)
            raise
        finally:
            self.finished += 1

    async def connect(self) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return RawClient(reader, writer)

    async def wait_finished(self, count: int = 1) -> None:
        for _ in range(int(TIMEOUT / 0.01)):
            if self.finished >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"serve did not return ({self.finished} of {count} finished)")


PUSHED = True
"""Whether ``running`` serves with the gateway's pushing reader (as the listener does) or a plain one."""


@contextlib.asynccontextmanager
async def running(app: Application, settings: ConnectionSettings | None = None) -> AsyncIterator[Server]:
    server = Server(app, settings or ConnectionSettings())
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: asyncio.StreamReaderProtocol(
            PushReader(loop=loop) if PUSHED else asyncio.StreamReader(loop=loop), server.handle, loop=loop
        ),
        "127.0.0.1",
        0,
    )
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        assert not server.errors, server.errors
