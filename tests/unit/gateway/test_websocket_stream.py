"""The ASGI WebSocket as a stream pair, driven by a scripted ASGI server (receive/send)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controlplane.gateway.websocket_stream import (
    HIGH_WATER,
    NORMAL_CLOSURE,
    UNSUPPORTED_DATA,
    WebSocketTransport,
    serve_stream,
)


class ScriptedSocket:
    """The server side of an accepted WebSocket as ASGI shows it to the app."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.gone = False

    def client_sends(self, data: bytes) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": data})

    def client_sends_text(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    def client_disconnects(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        if self.gone:
            raise OSError("client disconnected")  # what uvicorn's ClientDisconnected is
        self.sent.append(message)
        if message["type"] == "websocket.close":
            # uvicorn reports the disconnect to the app as soon as it sends the close frame.
            self.client_disconnects()

    def payload(self) -> bytes:
        return b"".join(m["bytes"] for m in self.sent if m["type"] == "websocket.send")

    def close_codes(self) -> list[int]:
        return [m["code"] for m in self.sent if m["type"] == "websocket.close"]


async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads 15 bytes, answers them in upper case and closes."""
    writer.write((await reader.readexactly(15)).upper())
    await writer.drain()
    writer.close()


async def test_binary_messages_are_one_byte_stream_both_ways() -> None:
    ws = ScriptedSocket()
    ws.client_sends(b"AMQP")
    ws.client_sends(b"\x00\x01\x00\x00 frames")
    await asyncio.wait_for(serve_stream(ws.receive, ws.send, shout), 5)
    assert ws.payload() == b"AMQP\x00\x01\x00\x00 FRAMES"


async def test_the_handler_closing_sends_what_it_wrote_then_a_normal_close() -> None:
    ws = ScriptedSocket()

    async def greet_and_leave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"one ")
        writer.write(b"two")
        writer.close()

    await asyncio.wait_for(serve_stream(ws.receive, ws.send, greet_and_leave), 5)
    assert ws.payload() == b"one two"
    assert ws.sent[-1] == {"type": "websocket.close", "code": NORMAL_CLOSURE}


async def test_the_peer_leaving_is_end_of_stream_and_nothing_more_is_sent() -> None:
    ws = ScriptedSocket()
    seen: list[bytes] = []

    async def read_to_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read())
        writer.write(b"too late")

    ws.client_sends(b"last words")
    ws.client_disconnects()
    await asyncio.wait_for(serve_stream(ws.receive, ws.send, read_to_end), 5)
    assert seen == [b"last words"]
    assert ws.sent == []


async def test_a_text_message_ends_the_stream_with_unsupported_data() -> None:
    ws = ScriptedSocket()
    seen: list[bytes] = []

    async def read_to_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read())
        writer.close()

    ws.client_sends(b"AMQP")
    ws.client_sends_text("not AMQP")
    await asyncio.wait_for(serve_stream(ws.receive, ws.send, read_to_end), 5)
    assert seen == [b"AMQP"]
    assert ws.close_codes() == [UNSUPPORTED_DATA]


async def test_drain_waits_while_the_socket_cannot_take_more() -> None:
    ws = ScriptedSocket()
    ws.writable.clear()  # the client is not reading: uvicorn's send() blocks
    drained = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * (HIGH_WATER + 1))  # the first message is taken by the (blocked) sender
        await asyncio.sleep(0)
        writer.write(b"y" * (HIGH_WATER + 1))  # this one stays buffered, over the high mark
        await writer.drain()
        drained.set()
        writer.close()

    serving = asyncio.create_task(serve_stream(ws.receive, ws.send, flood))
    await asyncio.sleep(0.05)
    assert not drained.is_set()
    ws.writable.set()
    await asyncio.wait_for(serving, 5)
    assert drained.is_set()
    assert ws.payload() == b"x" * (HIGH_WATER + 1) + b"y" * (HIGH_WATER + 1)


async def test_a_full_reader_stops_taking_messages_until_it_is_read() -> None:
    ws = ScriptedSocket()
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        data = await reader.readexactly(3 << 20)
        writer.write(str(len(data)).encode())
        writer.close()

    chunk = b"z" * (1 << 20)  # over StreamReader's default limit (64 KiB) twice: reading pauses
    for _ in range(3):
        ws.client_sends(chunk)
    serving = asyncio.create_task(serve_stream(ws.receive, ws.send, slow))
    await asyncio.sleep(0.05)
    assert ws.incoming.qsize() == 2  # the first message was fed, then reading paused
    release.set()
    await asyncio.wait_for(serving, 5)
    assert ws.payload() == str(3 << 20).encode()


async def test_a_send_failing_because_the_peer_is_gone_ends_the_handler() -> None:
    ws = ScriptedSocket()
    ws.gone = True

    async def write_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(b"data")
            await writer.drain()
            await asyncio.sleep(0)

    ws.client_sends(b"hello")
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(serve_stream(ws.receive, ws.send, write_forever), 5)


def test_the_transport_has_no_half_close() -> None:
    transport = WebSocketTransport(ScriptedSocket().send)
    assert not transport.can_write_eof()
    transport.close()
    assert transport.is_closing()
