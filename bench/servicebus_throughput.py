"""Service Bus with the real SDK (async client), against LocalZure on disk.

1. Batched send: one sender, batches of 100 x 1 KiB messages, back to back (goal >= 5,000 msg/s).
2. Receive and complete: one peek-lock receiver with prefetch, completing each message
   (goal >= 2,000 msg/s).
3. Send-to-receive latency: single messages sent one after another while a receiver
   waits; p50 and p99 of the time from send to receipt.

No other Service Bus emulator runs here (the official one needs SQL Server and a registry),
so the figures are compared with the goals rather than a second server.

    python -m bench.servicebus_throughput [--seconds 10] [--latency-messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from urllib.parse import urlsplit

from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.aio.management import ServiceBusAdministrationClient

from bench.targets import localzure

PAYLOAD = b"x" * 1024
KEY = "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"


async def send_batches(client: ServiceBusClient, queue: str, seconds: float, senders: int = 1) -> tuple[float, int]:
    """``senders`` links of one client, each sending a batch as soon as the last one is acknowledged."""
    sent = 0
    began = time.perf_counter()

    async def sender_loop() -> None:
        nonlocal sent
        async with client.get_queue_sender(queue) as sender:
            while time.perf_counter() - began < seconds:
                batch = await sender.create_message_batch()
                for _ in range(100):
                    batch.add_message(ServiceBusMessage(PAYLOAD))
                await sender.send_messages(batch)
                sent += 100

    await asyncio.gather(*(sender_loop() for _ in range(senders)))
    return sent / (time.perf_counter() - began), sent


async def receive_and_complete(client: ServiceBusClient, queue: str, available: int, seconds: float) -> float:
    done = 0
    async with client.get_queue_receiver(queue, prefetch_count=300) as receiver:
        began = time.perf_counter()
        while done < available and time.perf_counter() - began < seconds:
            messages = await receiver.receive_messages(max_message_count=100, max_wait_time=5)
            if not messages:
                break
            for message in messages:
                await receiver.complete_message(message)
            done += len(messages)
        elapsed = time.perf_counter() - began
    return done / elapsed


async def latency(client: ServiceBusClient, queue: str, count: int) -> list[float]:
    arrivals: dict[str, float] = {}
    async with client.get_queue_receiver(
        queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE, prefetch_count=10
    ) as receiver:

        async def receive() -> None:
            while len(arrivals) < count:
                for message in await receiver.receive_messages(max_message_count=1, max_wait_time=5):
                    arrivals[str(message.message_id)] = time.perf_counter()

        task = asyncio.create_task(receive())
        sent: dict[str, float] = {}
        async with client.get_queue_sender(queue) as sender:
            for i in range(count):
                sent[str(i)] = time.perf_counter()
                await sender.send_messages(ServiceBusMessage(PAYLOAD, message_id=str(i)))
                await asyncio.sleep(0.002)
        await asyncio.wait_for(task, 60)
    return sorted((arrivals[k] - sent[k]) * 1000 for k in sent)


async def main_async(seconds: float, latency_messages: int) -> None:
    with localzure("servicebus") as target:
        port = urlsplit(target.url).port
        connection = f"Endpoint=sb://127.0.0.1:{port};{KEY}"
        async with ServiceBusAdministrationClient.from_connection_string(connection, connection_verify=False) as admin:
            await admin.create_queue("throughput")
            await admin.create_queue("latency")
        async with ServiceBusClient.from_connection_string(connection) as client:
            await send_batches(client, "throughput", 1)  # warm-up
            send_rate, sent = await send_batches(client, "throughput", seconds)
            concurrent_rate, more = await send_batches(client, "throughput", seconds, senders=4)
            receive_rate = await receive_and_complete(client, "throughput", sent + more, seconds)
            await latency(client, "latency", 50)  # warm-up
            delays = await latency(client, "latency", latency_messages)
        print(f"Service Bus on LocalZure, 1 KiB messages, {seconds:.0f}s per phase, state on disk")
        print(f"  batched send (100 per batch)       : {send_rate:8.0f} msg/s (goal >= 5,000)")
        print(f"  the same, 4 senders in one client  : {concurrent_rate:8.0f} msg/s")
        print(f"  receive + complete (prefetch 300)  : {receive_rate:8.0f} msg/s (goal >= 2,000)")
        p50 = statistics.median(delays)
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"  send-to-receive latency            : p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(delays)} messages)")
        print(f"  server RSS after the run           : {target.rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--latency-messages", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main_async(args.seconds, args.latency_messages))


if __name__ == "__main__":
    main()
