"""Small ASGI helpers shared by the gateway and the services."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from urllib.parse import unquote_plus

from controlplane.gateway.errors import RequestBodyTooLarge


async def read_body(receive: Callable, limit: int | None = None) -> bytes:
    """The whole request body; RequestBodyTooLarge past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if limit is not None and size > limit:
                raise RequestBodyTooLarge()
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_response(
    send: Callable,
    status: int,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> None:
    raw = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers]
    if content_type:
        raw.append((b"content-type", content_type.encode()))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: dict, name: bytes) -> str | None:
    """One request header by lower-case name."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def parse_query(query_string: bytes) -> dict[str, str]:
    """Decoded query parameters, the first value of each name kept.

    Each ``name=value`` piece is decoded once and remembered: a SAS token's dozen
    percent-encoded fields repeat on every request a client makes.
    """
    result: dict[str, str] = {}
    if not query_string:
        return result
    for piece in query_string.decode("latin-1").split("&"):
        if piece:
            name, value = _decode_piece(piece)
            result.setdefault(name, value)
    return result


@functools.lru_cache(maxsize=8192)
def _decode_piece(piece: str) -> tuple[str, str]:
    name, _, value = piece.partition("=")
    return unquote_plus(name), unquote_plus(value)
