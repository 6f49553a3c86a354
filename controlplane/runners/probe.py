"""Is a container's service answering yet, and on which address?

A container's port published on 127.0.0.1 goes through docker-proxy, which accepts every
connection even while nothing listens inside; only an HTTP response shows the service is
up. On Linux the control plane can also reach the container's own address on the bridge
network, which skips docker-proxy (one process and two copies less per request); on
Docker Desktop that address is not routable and the published port is used.
"""

from __future__ import annotations

import asyncio
import contextlib

_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


class Unreachable(Exception):
    """No route to the address (as opposed to a refused connection)."""


async def answers_http(host: str, port: int, timeout: float = 1.0, connect_timeout: float = 0.3) -> bool:
    """True once an HTTP response (of any status) comes back from ``host:port``.

    Raises :class:`Unreachable` when connecting times out or the host has no route.
    """
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return False
    except (TimeoutError, OSError) as exc:
        raise Unreachable(f"{host}:{port}: {exc or 'timed out'}") from None
    try:
        async with asyncio.timeout(timeout):
            writer.write(_REQUEST)
            await writer.drain()
            return (await reader.read(8)).startswith(b"HTTP/1.")
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def first_answering(endpoints: list[tuple[str, int]], timeout: float = 1.0) -> tuple[str, int] | None:
    """The first of ``endpoints`` (in order of preference) that answers HTTP now, or None.
    An unreachable endpoint is dropped from the list, so it is not tried again."""
    for endpoint in list(endpoints):
        try:
            if await answers_http(*endpoint, timeout=timeout):
                return endpoint
        except Unreachable:
            endpoints.remove(endpoint)
    return None
