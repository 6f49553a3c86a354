"""A closed-loop load generator: N clients, each repeating one step as fast as it is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bench.targets import ACCOUNT, KEY

Step = Callable[[aiohttp.ClientSession], Awaitable[bool]]


def account_sas() -> str:
    """One account SAS (blob, queue and table) for every request, so the load generator spends
    its CPU on HTTP, not signing. Signed at a version Azurite 3.35 also understands."""
    from azure.storage.blob import AccountSasPermissions, ResourceTypes
    from azure.storage.blob._shared.shared_access_signature import SharedAccessSignature

    return SharedAccessSignature(ACCOUNT, KEY, x_ms_version="2021-02-12").generate_account(
        services="bqt",
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True, process=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=2),
    )


async def run(step: Step, seconds: float, clients: int, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """(successful steps per second, failed steps)."""
    done = errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers or {"x-ms-version": "2021-02-12"}) as session:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal done, errors
            while time.monotonic() < deadline:
                if await step(session):
                    done += 1
                else:
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - began
    return done / elapsed, errors
