"""Fixtures for the runners' tests: small raw TCP servers standing in for backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    """Starts a server on 127.0.0.1 with a connection handler; returns its port."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        servers.append(await asyncio.start_server(handler, "127.0.0.1", 0))
        return servers[-1].sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
