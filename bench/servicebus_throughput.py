"""Service Bus with the real SDK, against LocalZure on disk.

1. Batched send: batches of 100 x 1 KiB messages, each sent once the last is acknowledged:
   one sender (async SDK), then 4 sender processes, each with its own connection
   (goal >= 5,000 msg/s).
2. Receive and complete: one peek-lock receiver with prefetch, completing each message
   (goal >= 2,000 msg/s), with the async SDK and with the sync SDK (which costs less CPU
   per message); then 2 receiver processes (sync SDK). Timed once a receiver is open and
   its first batch completed, until before it closes: opening (the SDK polls the attach
   every 50 ms) and closing (it joins a thread) take about 0.5 s each and move no message.
3. Send-to-receive latency: single messages sent one after another while a receiver
   waits; p50 and p99 of the time from send to receipt.

Each single-client phase also reports the CPU time per message of the client (the SDK)
and of the server: on a small machine the two share the cores, and the SDK's own cost
bounds what any server can reach. The server's includes the event loop's polling before
it sleeps (``poll_window_us``), which trades CPU for a shorter wait per settlement; run
the server with ``LOCALZURE_POLL_WINDOW_US=0`` for the figures without it. No other
Service Bus emulator runs here (the official one needs SQL Server and a registry), so the
figures are compared with the goals.

    python -m bench.servicebus_throughput [--seconds 10] [--latency-messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from urllib.parse import urlsplit

import psutil
from azure.servicebus import ServiceBusClient as SyncServiceBusClient
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.aio.management import ServiceBusAdministrationClient

from bench.targets import localzure

PAYLOAD = b"x" * 1024
KEY = "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"


class Phase:
    """Messages moved, wall time, and the CPU time this process and the server spent meanwhile."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server
        self.count = 0
        self.began = time.perf_counter()
        self._client = _own_cpu()
        self._server = _cpu(server)

    def end(self, count: int) -> Phase:
        self.count = count
        self.wall = time.perf_counter() - self.began
        self.client_cpu = _own_cpu() - self._client
        self.server_cpu = _cpu(self.server) - self._server
        return self

    @property
    def rate(self) -> float:
        return self.count / self.wall

    def cpu_per_message(self) -> str:
        per = 1e6 / max(self.count, 1)
        return f"client {self.client_cpu * per:.0f} us, server {self.server_cpu * per:.0f} us of CPU per message"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu(process: psutil.Process) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


async def send_batches(client: ServiceBusClient, queue: str, seconds: float) -> int:
    """One sender sending a batch as soon as the last one is acknowledged; messages sent."""
    sent = 0
    began = time.perf_counter()
    async with client.get_queue_sender(queue) as sender:
        while time.perf_counter() - began < seconds:
            batch = await sender.create_message_batch()
            for _ in range(100):
                batch.add_message(ServiceBusMessage(PAYLOAD))
            await sender.send_messages(batch)
            sent += 100
    return sent


async def receive_and_complete(
    client: ServiceBusClient, queue: str, available: int, seconds: float, server: psutil.Process
) -> Phase:
    """One peek-lock receiver completing each message in turn, timed as the module says."""
    async with client.get_queue_receiver(queue, prefetch_count=300) as receiver:
        for message in await receiver.receive_messages(max_message_count=100, max_wait_time=5):
            await receiver.complete_message(message)
        phase, done = Phase(server), 0
        while done < available and time.perf_counter() - phase.began < seconds:
            messages = await receiver.receive_messages(max_message_count=100, max_wait_time=5)
            if not messages:
                break
            for message in messages:
                await receiver.complete_message(message)
            done += len(messages)
        return phase.end(done)


def receive_and_complete_sync(
    client: SyncServiceBusClient, queue: str, available: int, seconds: float, server: psutil.Process
) -> Phase:
    """``receive_and_complete`` with the sync SDK."""
    with client.get_queue_receiver(queue, prefetch_count=300) as receiver:
        for message in receiver.receive_messages(max_message_count=100, max_wait_time=5):
            receiver.complete_message(message)
        phase, done = Phase(server), 0
        while done < available and time.perf_counter() - phase.began < seconds:
            messages = receiver.receive_messages(max_message_count=100, max_wait_time=5)
            if not messages:
                break
            for message in messages:
                receiver.complete_message(message)
            done += len(messages)
        return phase.end(done)


def _in_process(job: str, connection: str, queue: str, seconds: float, start_at: float, server_pid: int) -> int:
    """A phase in a fresh process with its own client (connection), started at ``start_at``:
    async senders, sync receivers."""
    if job == "receive":
        with SyncServiceBusClient.from_connection_string(connection) as client:
            time.sleep(max(0.0, start_at - time.time()))
            server = psutil.Process(server_pid)
            return receive_and_complete_sync(client, queue, 10**9, seconds, server).count

    async def run() -> int:
        async with ServiceBusClient.from_connection_string(connection) as client:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            return await send_batches(client, queue, seconds)

    return asyncio.run(run())


def in_processes(job: str, processes: int, connection: str, queue: str, seconds: float, server_pid: int) -> float:
    """Messages per second of ``processes`` clients at once, each in its own process."""
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        start_at = time.time() + 3  # after every worker has imported the SDK and connected
        futures = [
            pool.submit(_in_process, job, connection, queue, seconds, start_at, server_pid) for _ in range(processes)
        ]
        return sum(future.result() for future in futures) / seconds


async def measured(server: psutil.Process, work: Callable[[], Awaitable[int]]) -> Phase:
    phase = Phase(server)
    return phase.end(await work())


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
        server = psutil.Process(target.process.pid)
        async with ServiceBusClient.from_connection_string(connection) as client:
            await send_batches(client, "throughput", 1)  # warm-up
            send = await measured(server, lambda: send_batches(client, "throughput", seconds))
            sent_by_four = in_processes("send", 4, connection, "throughput", seconds, server.pid)
            receive = await receive_and_complete(client, "throughput", send.count, seconds, server)
            with SyncServiceBusClient.from_connection_string(connection) as sync_client:
                receive_sync = receive_and_complete_sync(sync_client, "throughput", send.count, seconds, server)
            received_by_two = in_processes("receive", 2, connection, "throughput", seconds, server.pid)
            await latency(client, "latency", 50)  # warm-up
            delays = await latency(client, "latency", latency_messages)
        print(f"Service Bus on LocalZure, 1 KiB messages, {seconds:.0f}s per phase, state on disk")
        print(f"  batched send (100 per batch), 1 sender     : {send.rate:8.0f} msg/s")
        print(f"    {send.cpu_per_message()}")
        print(f"  the same, 4 sender processes               : {sent_by_four:8.0f} msg/s (goal >= 5,000)")
        print(f"  receive + complete (prefetch 300), async   : {receive.rate:8.0f} msg/s (goal >= 2,000)")
        print(f"    {receive.cpu_per_message()}")
        print(f"  receive + complete (prefetch 300), sync    : {receive_sync.rate:8.0f} msg/s (goal >= 2,000)")
        print(f"    {receive_sync.cpu_per_message()}")
        print(f"  the same, 2 sync receiver processes        : {received_by_two:8.0f} msg/s")
        p50 = statistics.median(delays)
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"  send-to-receive latency                    : p50 {p50:.1f} ms, p99 {p99:.1f} ms", end="")
        print(f" ({len(delays)} messages)")
        print(f"  server RSS after the run                   : {target.rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--latency-messages", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main_async(args.seconds, args.latency_messages))


if __name__ == "__main__":
    main()
