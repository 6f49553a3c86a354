"""Readiness probes: only an HTTP answer counts, as docker-proxy accepts every connection."""

from __future__ import annotations

import asyncio
import socket

from controlplane.runners.probe import answers_http, first_answering


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


async def _accept_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # What docker-proxy does while nothing listens inside the container.
    writer.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_an_http_answer_of_any_status_counts(serve) -> None:
    assert await answers_http("127.0.0.1", await serve(_answer)) is True


async def test_a_proxy_that_accepts_and_closes_does_not_count(serve) -> None:
    assert await answers_http("127.0.0.1", await serve(_accept_and_close)) is False


async def test_a_refused_connection_is_not_ready_yet() -> None:
    assert await answers_http("127.0.0.1", _closed_port()) is False


async def test_first_answering_prefers_the_earlier_endpoint(serve) -> None:
    first, second = await serve(_answer), await serve(_answer)
    endpoints = [("127.0.0.1", _closed_port()), ("127.0.0.1", first), ("127.0.0.1", second)]
    assert await first_answering(endpoints) == ("127.0.0.1", first)
    assert len(endpoints) == 3  # refused is not unreachable: it is tried again next time
