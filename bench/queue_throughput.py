"""Queue Storage: LocalZure against Azurite, the same load in one run.

Each of 16 concurrent clients loops: put a 1 KiB message, get one message, delete it.
Requests carry an account SAS made once (the server verifies its signature on every
request), so the load generator spends its CPU on HTTP, not on signing.
Both keep their state on disk: LocalZure makes every write durable (its redo log) before it answers;
Azurite writes to its ``--location`` folder on its own schedule.

    python -m bench.queue_throughput [--seconds 10] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import re

import aiohttp

from bench.load import account_sas, run
from bench.targets import Target, azurite, localzure

MESSAGE = "<QueueMessage><MessageText>" + "x" * 1024 + "</MessageText></QueueMessage>"
_ID = re.compile(r"<MessageId>([^<]+)</MessageId>")
_RECEIPT = re.compile(r"<PopReceipt>([^<]+)</PopReceipt>")


async def drive(target: Target, seconds: float, clients: int) -> tuple[float, int]:
    """Messages per second put, got and deleted, and the error count."""
    sas = account_sas()
    queue = f"{target.url}/bench"
    async with aiohttp.ClientSession() as session, session.put(f"{queue}?{sas}") as response:
        assert response.status in (201, 204), await response.text()

    async def step(session: aiohttp.ClientSession) -> bool:
        async with session.post(f"{queue}/messages?{sas}", data=MESSAGE) as response:
            await response.read()
            if response.status != 201:
                return False
        async with session.get(f"{queue}/messages?numofmessages=1&{sas}") as response:
            body = await response.text()
        ids, receipts = _ID.findall(body), _RECEIPT.findall(body)
        if not ids:
            return False
        async with session.delete(f"{queue}/messages/{ids[0]}?popreceipt={receipts[0]}&{sas}") as response:
            await response.read()
            return response.status == 204

    return await run(step, seconds, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    results: dict[str, tuple[float, int, float, float]] = {}
    for start in (azurite, localzure):
        with start("queue") as target:
            asyncio.run(drive(target, 1, args.clients))  # warm-up
            rate, errors = asyncio.run(drive(target, args.seconds, args.clients))
            results[target.name] = (rate, errors, target.rss_mib(), target.startup_seconds)
    print(f"{'server':<10} {'msg/s':>9} {'errors':>7} {'RSS MiB':>8} {'start s':>8}")
    for name, (rate, errors, rss, startup) in results.items():
        print(f"{name:<10} {rate:>9.0f} {errors:>7} {rss:>8.1f} {startup:>8.3f}")
    ratio = results["LocalZure"][0] / results["Azurite"][0]
    print(f"ratio LocalZure/Azurite: {ratio:.2f}x (1 message = put + get + delete, {args.clients} clients)")


if __name__ == "__main__":
    main()
