"""The forwarding client against raw backends that behave well and badly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from controlplane.runners.upstream import UpstreamPool, UpstreamUnavailable
from tests.support import free_port


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request, de-chunking a chunked body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), None)
    if length is not None:
        return head, await reader.readexactly(length)
    if b"transfer-encoding: chunked" in lines:
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readexactly(2)
        return head, body
    return head, b""


async def collect(pool: UpstreamPool, method: str = "GET", body: list[bytes] | None = None) -> tuple[int, bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in body or []:
            yield chunk

    response = await pool.request(method, b"/a?b=1", [(b"host", b"x")], chunks() if body is not None else None)
    return response.status, b"".join([chunk async for chunk in response.body()])


async def test_keep_alive_connections_are_reused(serve) -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                head, _ = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")

    pool = UpstreamPool("127.0.0.1", await serve(handler))
    for _ in range(5):
        assert await collect(pool) == (200, b"hello")
    assert connections == 1
    pool.close()


async def test_streamed_request_bodies_are_chunked_and_chunked_responses_decoded(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        assert head.startswith(b"PUT /a?b=1 HTTP/1.1\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (body[:3], body[3:]):
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
        writer.write(b"0\r\n\r\n")

    pool = UpstreamPool("127.0.0.1", await serve(handler))
    assert await collect(pool, "PUT", [b"abc", b"defgh" * 1000]) == (201, b"abc" + b"defgh" * 1000)
    pool.close()


async def test_head_and_no_content_responses_have_no_body(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n")  # HEAD: the length, no body
        head, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        head, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    pool = UpstreamPool("127.0.0.1", await serve(handler))
    assert await collect(pool, "HEAD") == (200, b"")
    assert await collect(pool, "DELETE") == (204, b"")
    assert await collect(pool) == (200, b"ok")  # the same connection, still in step
    pool.close()


async def test_a_reused_connection_the_backend_closed_is_retried_once(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        # Keep-alive advertised, then closed as soon as the response is out.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    pool = UpstreamPool("127.0.0.1", await serve(handler))
    assert await collect(pool) == (200, b"ok")
    await asyncio.sleep(0.05)
    assert await collect(pool) == (200, b"ok")
    pool.close()


async def test_a_backend_that_breaks_off_the_body_raises(serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    pool = UpstreamPool("127.0.0.1", await serve(handler))
    response = await pool.request("GET", b"/", [], None)
    with pytest.raises(ConnectionResetError):
        async for _ in response.body():
            pass
    pool.close()


async def test_nothing_listening_and_garbage_are_unavailable(serve) -> None:
    with pytest.raises(UpstreamUnavailable):
        await UpstreamPool("127.0.0.1", free_port()).request("GET", b"/", [], None)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")

    with pytest.raises(UpstreamUnavailable):
        await UpstreamPool("127.0.0.1", await serve(garbage)).request("GET", b"/", [], None)


async def test_a_silent_backend_times_out(serve) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    with pytest.raises(UpstreamUnavailable):
        await UpstreamPool("127.0.0.1", await serve(silent), read_timeout=0.2).request("GET", b"/", [], None)
