"""Blob Storage: LocalZure against Azurite, the same load in one run.

- 1 KiB Put Blob and 1 KiB Get Blob, 16 concurrent clients, requests per second;
- one 64 MiB blob uploaded (Put Block x 16 + Put Block List) and downloaded, MB/s.

    python -m bench.blob_throughput [--seconds 10] [--clients 16] [--large-mib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import time

import aiohttp

from bench.load import account_sas, run
from bench.targets import Target, azurite, localzure

SMALL = os.urandom(1024)
BLOCK = 4 * 1024 * 1024


async def create_container(url: str, sas: str) -> None:
    async with aiohttp.ClientSession() as session, session.put(f"{url}?restype=container&{sas}") as response:
        assert response.status in (201, 409), await response.text()


async def small_ops(target: Target, seconds: float, clients: int) -> tuple[float, float]:
    sas = account_sas()
    container = f"{target.url}/bench"
    await create_container(container, sas)
    counter = itertools.count()
    headers = {"x-ms-blob-type": "BlockBlob"}

    async def put(session: aiohttp.ClientSession) -> bool:
        name = f"small-{next(counter) % 512}"
        async with session.put(f"{container}/{name}?{sas}", data=SMALL, headers=headers) as response:
            await response.read()
            return response.status == 201

    put_rate, _ = await run(put, seconds, clients)

    async def get(session: aiohttp.ClientSession) -> bool:
        async with session.get(f"{container}/small-{next(counter) % 512}?{sas}") as response:
            body = await response.read()
            return response.status == 200 and len(body) == len(SMALL)

    get_rate, _ = await run(get, seconds, clients)
    return put_rate, get_rate


async def large(target: Target, mib: int) -> tuple[float, float]:
    sas = account_sas()
    container = f"{target.url}/bench"
    await create_container(container, sas)
    payload = os.urandom(BLOCK)
    blocks = [base64.b64encode(f"block-{i:06d}".encode()).decode() for i in range(mib * 1024 * 1024 // BLOCK)]
    async with aiohttp.ClientSession(headers={"x-ms-version": "2021-02-12"}) as session:
        began = time.monotonic()
        for block in blocks:
            url = f"{container}/large?comp=block&blockid={block}&{sas}"
            async with session.put(url, data=payload) as response:
                assert response.status == 201, await response.text()
        body = "<BlockList>" + "".join(f"<Latest>{b}</Latest>" for b in blocks) + "</BlockList>"
        async with session.put(f"{container}/large?comp=blocklist&{sas}", data=body) as response:
            assert response.status == 201, await response.text()
        upload = mib / (time.monotonic() - began)
        began = time.monotonic()
        size = 0
        async with session.get(f"{container}/large?{sas}") as response:
            async for chunk in response.content.iter_chunked(1024 * 1024):
                size += len(chunk)
        assert size == len(blocks) * BLOCK
        download = mib / (time.monotonic() - began)
    return upload, download


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--large-mib", type=int, default=64)
    args = parser.parse_args()
    rows = {}
    for start in (azurite, localzure):
        with start("blob") as target:
            asyncio.run(small_ops(target, 1, args.clients))  # warm-up
            put_rate, get_rate = asyncio.run(small_ops(target, args.seconds, args.clients))
            upload, download = asyncio.run(large(target, args.large_mib))
            rows[target.name] = (put_rate, get_rate, upload, download, target.rss_mib())
    print(f"{'server':<10} {'put/s':>8} {'get/s':>8} {'up MB/s':>8} {'down MB/s':>9} {'RSS MiB':>8}")
    for name, (put_rate, get_rate, upload, download, rss) in rows.items():
        print(f"{name:<10} {put_rate:>8.0f} {get_rate:>8.0f} {upload:>8.0f} {download:>9.0f} {rss:>8.1f}")
    lz, az = rows["LocalZure"], rows["Azurite"]
    print(
        f"ratio LocalZure/Azurite: put {lz[0] / az[0]:.2f}x, get {lz[1] / az[1]:.2f}x, "
        f"upload {lz[2] / az[2]:.2f}x, download {lz[3] / az[3]:.2f}x"
    )


if __name__ == "__main__":
    main()
