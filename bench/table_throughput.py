"""Table Storage: LocalZure against Azurite, the same load in one run.

Three measurements, each with 16 concurrent clients for a fixed time:
  insert  point inserts (POST, the SDK's default: 201 with the entity back)
  read    point reads of random entities among 10,000 (GET /t(PartitionKey=..,RowKey=..))
  query   a filtered query over one partition of 10,000 entities
          (``PartitionKey eq 'q' and n ge X and n lt X+20 and flag eq true``: 10 rows back;
          LocalZure serves it from a secondary index on ``n`` it builds on demand)
  scan    a filter no index can serve, so every entity of the partition is tested
          (``PartitionKey eq 'q' and (n eq X or name eq 'entity number Y')``: 2 rows back)
Requests carry an account SAS made once, so the load generator spends its CPU on HTTP,
not on signing. Both servers persist to disk (LocalZure: durable in its redo log before each response).

    python -m bench.table_throughput [--seconds 5] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import AccountSasPermissions, ResourceTypes, generate_account_sas

from bench.targets import ACCOUNT, KEY, Target, azurite, localzure

ENTITIES = 10_000
HEADERS = {
    "x-ms-version": "2019-02-02",
    "DataServiceVersion": "3.0",
    "Accept": "application/json;odata=minimalmetadata",
    "Content-Type": "application/json",
}


def account_sas() -> str:
    return generate_account_sas(
        AzureNamedKeyCredential(ACCOUNT, KEY),
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True,
                                         update=True),
        expiry=datetime.now(UTC) + timedelta(hours=2),
    )  # fmt: skip


def entity(partition: str, n: int) -> dict:
    return {
        "PartitionKey": partition,
        "RowKey": f"{n:08d}",
        "n": n,
        "name": f"entity number {n}",
        "score": n / 7,
        "flag": n % 2 == 0,
        "when@odata.type": "Edm.DateTime",
        "when": "2024-05-01T12:00:00Z",
    }


async def timed(clients: int, seconds: float, one: Callable[[int], Awaitable[bool]]) -> tuple[float, int]:
    """Operations per second of ``one`` run in a loop by each client, and the error count."""
    done = errors = 0
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal done, errors
        i = 0
        while time.monotonic() < deadline:
            if await one(number * 10_000_000 + i):
                done += 1
            else:
                errors += 1
            i += 1

    began = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return done / (time.monotonic() - began), errors


async def drive(target: Target, seconds: float, clients: int) -> dict[str, tuple[float, int]]:
    sas = account_sas()
    table = f"bench{random.randrange(10**6)}"
    results: dict[str, tuple[float, int]] = {}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
        async with session.post(f"{target.url}/Tables?{sas}", json={"TableName": table}) as response:
            assert response.status == 201, await response.text()
        url = f"{target.url}/{table}"

        async def insert(n: int, partition: str = "ins") -> bool:
            async with session.post(f"{url}?{sas}", json=entity(partition, n)) as response:
                await response.read()
                return response.status == 201

        # The 10,000 entities the reads and the query use, loaded 32 at a time.
        for start in range(0, ENTITIES, 32):
            oks = await asyncio.gather(*(insert(n, "q") for n in range(start, min(start + 32, ENTITIES))))
            assert all(oks), "load failed"

        results["insert"] = await timed(clients, seconds, insert)

        async def read(_: int) -> bool:
            n = random.randrange(ENTITIES)
            async with session.get(f"{url}(PartitionKey='q',RowKey='{n:08d}')?{sas}") as response:
                await response.read()
                return response.status == 200

        results["read"] = await timed(clients, seconds, read)

        async def query(_: int) -> bool:
            low = random.randrange(ENTITIES - 20)
            text = f"PartitionKey eq 'q' and n ge {low} and n lt {low + 20} and flag eq true"
            async with session.get(f"{url}()?$filter={quote(text)}&{sas}") as response:
                body = await response.json(content_type=None)
                return response.status == 200 and len(body["value"]) == 10

        results["query"] = await timed(clients, seconds, query)

        async def scan(_: int) -> bool:
            a, b = random.sample(range(ENTITIES), 2)
            text = f"PartitionKey eq 'q' and (n eq {a} or name eq 'entity number {b}')"
            async with session.get(f"{url}()?$filter={quote(text)}&{sas}") as response:
                body = await response.json(content_type=None)
                return response.status == 200 and len(body["value"]) == 2

        results["scan"] = await timed(clients, seconds, scan)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    results: dict[str, dict[str, tuple[float, int]]] = {}
    for start in (azurite, localzure):
        with start("table") as target:
            results[target.name] = asyncio.run(drive(target, args.seconds, args.clients))
    lz, az = results["LocalZure"], results["Azurite"]
    print(f"{'operation':<10} {'LocalZure/s':>12} {'Azurite/s':>10} {'ratio':>7} {'errors':>8}")
    for name in ("insert", "read", "query", "scan"):
        print(f"{name:<10} {lz[name][0]:>12.0f} {az[name][0]:>10.0f} {lz[name][0] / az[name][0]:>6.2f}x "
              f"{lz[name][1]:>3}/{az[name][1]:<3}")  # fmt: skip
    print(f"({args.clients} clients, {args.seconds:g} s each; query and scan over one 10,000-entity partition)")


if __name__ == "__main__":
    main()
