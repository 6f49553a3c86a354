"""The asyncio SDK (azure.storage.queue.aio) against the same emulator."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue.aio import QueueServiceClient

from controlplane.testing.server import LocalZureThread


@pytest.fixture
def name() -> str:
    return f"aio-{uuid.uuid4().hex[:16]}"


async def test_async_message_cycle(localzure: LocalZureThread, name: str) -> None:
    async with QueueServiceClient.from_connection_string(localzure.connection_string("queue")) as service:
        queue = await service.create_queue(name, metadata={"mode": "async"})
        try:
            sent = await queue.send_message("async hello")
            props = await queue.get_queue_properties()
            assert props.metadata == {"mode": "async"}
            assert props.approximate_message_count == 1
            received = [m async for m in queue.receive_messages(visibility_timeout=60)]
            assert [(m.id, m.content, m.dequeue_count) for m in received] == [(sent.id, "async hello", 1)]
            updated = await queue.update_message(received[0], content="changed", visibility_timeout=0)
            [peeked] = await queue.peek_messages()
            assert peeked.content == "changed"
            await queue.delete_message(received[0].id, updated.pop_receipt)
            assert await queue.peek_messages() == []
            assert [q.name async for q in service.list_queues(name_starts_with=name)] == [name]
        finally:
            await queue.delete_queue()
        with pytest.raises(ResourceNotFoundError):
            await queue.get_queue_properties()


async def test_async_concurrent_consumers_never_share_a_message(localzure: LocalZureThread, name: str) -> None:
    async with QueueServiceClient.from_connection_string(localzure.connection_string("queue")) as service:
        queue = await service.create_queue(name)
        try:
            await asyncio.gather(*(queue.send_message(f"m{i}") for i in range(40)))

            async def consume() -> list[str]:
                got: list[str] = []
                while True:
                    batch = [m async for m in queue.receive_messages(messages_per_page=5, max_messages=5)]
                    if not batch:
                        return got
                    for message in batch:
                        await queue.delete_message(message)
                        got.append(message.content)

            results = await asyncio.gather(*(consume() for _ in range(8)))
            everything = [text for result in results for text in result]
            assert sorted(everything) == sorted(f"m{i}" for i in range(40))
            assert (await queue.get_queue_properties()).approximate_message_count == 0
        finally:
            await queue.delete_queue()


async def test_async_errors(localzure: LocalZureThread, name: str) -> None:
    async with QueueServiceClient.from_connection_string(localzure.connection_string("queue")) as service:
        queue = service.get_queue_client(name)
        with pytest.raises(ResourceNotFoundError) as info:
            await queue.send_message("no queue")
        assert info.value.error_code == "QueueNotFound"
        await queue.create_queue()
        try:
            sent = await queue.send_message("x")
            with pytest.raises(HttpResponseError) as bad:
                await queue.delete_message(sent.id, "not-the-receipt")
            assert bad.value.error_code == "PopReceiptMismatch"
        finally:
            await queue.delete_queue()
