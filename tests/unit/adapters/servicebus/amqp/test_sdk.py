"""The unmodified azure-servicebus SDK, sync and async, against ``serve`` and a small in-memory
broker written on the application interface: CBS put-token, sending one message and a batch,
receiving in RECEIVE_AND_DELETE and PEEK_LOCK (complete and abandon over the link), with every
message property round-tripped, and an attach refused the way Azure refuses it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import MessageSizeExceededError, MessagingEntityNotFoundError

from adapters.servicebus.amqp import (
    SND_SETTLED,
    Accepted,
    AmqpError,
    Application,
    InboundHandler,
    InboundLink,
    IncomingDelivery,
    Link,
    Message,
    OutboundHandler,
    OutboundLink,
    OutgoingDelivery,
    Properties,
    serve,
)
from adapters.servicebus.amqp.types import Long

CREATED = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


class CbsNode(InboundHandler):
    """$cbs: every put-token succeeds; the reply goes to the session's receiver on $cbs."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker

    def on_transfer(self, delivery: IncomingDelivery) -> Accepted:
        request = delivery.message
        self.broker.tokens.append({**(request.application_properties or {}), "token": request.value})
        reply_link = next(
            link
            for link in delivery.link.session.links.values()
            if isinstance(link, OutboundLink) and link.address == "$cbs"
        )
        reply = Message(
            properties=Properties(correlation_id=request.properties.message_id),
            application_properties={"status-code": 200, "status-description": "OK"},
        )
        reply_link.send(reply, tag=b"cbs", settled=True)
        return Accepted()


class CbsReplies(OutboundHandler):
    pass


class QueueSender(InboundHandler):
    def __init__(self, broker: MemoryBroker, queue: str) -> None:
        self.broker = broker
        self.queue = queue

    def on_transfer(self, delivery: IncomingDelivery) -> Accepted:
        for message in delivery.messages():
            self.broker.enqueue(self.queue, message)
        return Accepted()


class QueueReceiver(OutboundHandler):
    def __init__(self, broker: MemoryBroker, queue: str) -> None:
        self.broker = broker
        self.queue = queue

    def on_flow(self, link: OutboundLink) -> None:
        self.broker.pump(self.queue)

    def on_disposition(self, delivery: OutgoingDelivery) -> Any:
        self.broker.locks.pop(delivery.tag, None)
        if not isinstance(delivery.remote_state, Accepted):
            self.broker.queues[self.queue].appendleft(delivery.context)
        return delivery.remote_state

    def on_detach(self, link: OutboundLink, error: AmqpError | None) -> None:
        self.broker.receivers[self.queue].remove(link)
        for delivery in link.unsettled.values():
            self.broker.locks.pop(delivery.tag, None)
            self.broker.queues[self.queue].appendleft(delivery.context)


class MemoryBroker(Application):
    def __init__(self) -> None:
        self.queues: dict[str, deque[Message]] = defaultdict(deque)
        self.receivers: dict[str, list[OutboundLink]] = defaultdict(list)
        self.locks: dict[bytes, Message] = {}
        self.tokens: list[dict[str, Any]] = []
        self.sequence = 0

    def on_attach(self, link: Link) -> InboundHandler | OutboundHandler:
        address = link.address or ""
        if address == "$cbs":
            if isinstance(link, OutboundLink):
                link.snd_settle_mode = SND_SETTLED
                return CbsReplies()
            return CbsNode(self)
        queue = urlparse(address).path.strip("/") or address
        if queue == "missing":
            raise AmqpError("amqp:not-found", f"The messaging entity '{address}' could not be found.")
        if isinstance(link, InboundLink):
            return QueueSender(self, queue)
        self.receivers[queue].append(link)  # type: ignore[arg-type]
        return QueueReceiver(self, queue)

    def enqueue(self, queue: str, message: Message) -> None:
        self.sequence += 1
        message.message_annotations = {
            **(message.message_annotations or {}),
            "x-opt-sequence-number": Long(self.sequence),
            "x-opt-enqueued-time": datetime.now(UTC),
        }
        self.queues[queue].append(message)
        self.pump(queue)

    def pump(self, queue: str) -> None:
        messages = self.queues[queue]
        for link in self.receivers[queue]:
            while link.credit and messages and link.attached:
                message = messages.popleft()
                lock = uuid.uuid4()
                annotations = dict(message.message_annotations or {})
                annotations["x-opt-locked-until"] = datetime.now(UTC) + timedelta(minutes=1)
                message.message_annotations = annotations
                delivery = link.send(message, tag=lock.bytes_le, context=message)
                if not delivery.settled:
                    self.locks[lock.bytes_le] = message


class BrokerThread:
    """The engine on its own event loop, so the blocking SDK can be called from the test."""

    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(lambda r, w: serve(r, w, self.broker), "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )


@pytest.fixture
def server() -> Iterator[BrokerThread]:
    thread = BrokerThread()
    thread.start()
    yield thread
    thread.stop()


def full_message(index: int = 0) -> ServiceBusMessage:
    return ServiceBusMessage(
        f"body {index}",
        message_id=f"message-{index}",
        correlation_id=f"correlation-{index}",
        session_id="session-a",
        subject="the subject",
        content_type="application/json",
        to="someone",
        reply_to="reply-queue",
        application_properties={
            "text": "value",
            "number": 42,
            "negative": -7,
            "ratio": 0.25,
            "flag": True,
            "raw": b"\x00\x01",
        },
    )


def assert_round_tripped(received: Any, index: int = 0) -> None:
    assert str(received) == f"body {index}"
    assert received.message_id == f"message-{index}"
    assert received.correlation_id == f"correlation-{index}"
    assert received.session_id == "session-a"
    assert received.subject == "the subject"
    assert received.content_type == "application/json"
    assert received.to == "someone"
    assert received.reply_to == "reply-queue"
    assert received.application_properties == {
        b"text": b"value",
        b"number": 42,
        b"negative": -7,
        b"ratio": 0.25,
        b"flag": True,
        b"raw": b"\x00\x01",
    }
    assert received.sequence_number > 0
    assert received.enqueued_time_utc is not None


def receive_all(receiver: Any, count: int) -> list[Any]:
    received: list[Any] = []
    while len(received) < count:
        batch = receiver.receive_messages(max_message_count=count - len(received), max_wait_time=5)
        assert batch, f"only {len(received)} of {count} messages arrived"
        received.extend(batch)
    return received


def test_sync_send_one_and_a_batch_then_receive_and_delete(server: BrokerThread) -> None:
    with ServiceBusClient.from_connection_string(server.connection_string) as client:
        with client.get_queue_sender("orders") as sender:
            sender.send_messages(full_message())
            batch = sender.create_message_batch()
            for index in range(1, 101):
                batch.add_message(full_message(index))
            sender.send_messages(batch)
        assert len(server.broker.queues["orders"]) == 101

        with client.get_queue_receiver("orders", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
            received = receive_all(receiver, 101)

    for index, message in enumerate(received):
        assert_round_tripped(message, index)
    assert not server.broker.queues["orders"] and not server.broker.locks
    token = server.broker.tokens[0]
    assert token["operation"] == "put-token" and token["type"] in ("jwt", "servicebus.windows.net:sastoken")
    assert "127.0.0.1" in token["name"] and token["token"].startswith("SharedAccessSignature ")
    assert "skn=RootManageSharedAccessKey" in token["token"]


def test_sync_peek_lock_complete_and_abandon(server: BrokerThread) -> None:
    with ServiceBusClient.from_connection_string(server.connection_string) as client:
        with client.get_queue_sender("work") as sender:
            sender.send_messages([full_message(i) for i in range(5)])
        with client.get_queue_receiver("work") as receiver:
            received = receive_all(receiver, 5)
            assert [m.message_id for m in received] == [f"message-{i}" for i in range(5)]
            assert all(isinstance(m.lock_token, uuid.UUID) for m in received)
            assert set(server.broker.locks) == {m.lock_token.bytes_le for m in received}
            for message in received[1:]:
                receiver.complete_message(message)
            receiver.abandon_message(received[0])
            again = receive_all(receiver, 1)[0]
            assert again.message_id == "message-0"
            assert_round_tripped(again, 0)
            receiver.complete_message(again)
    assert not server.broker.queues["work"] and not server.broker.locks


def test_sync_attach_to_a_missing_entity_is_refused(server: BrokerThread) -> None:
    with (
        ServiceBusClient.from_connection_string(server.connection_string) as client,
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_sender("missing") as sender,
    ):
        sender.send_messages(ServiceBusMessage("x"))


async def test_async_send_batch_and_receive_in_both_modes(server: BrokerThread) -> None:
    async with AsyncServiceBusClient.from_connection_string(server.connection_string) as client:
        async with client.get_queue_sender("events") as sender:
            await sender.send_messages(full_message(0))
            batch = await sender.create_message_batch()
            for index in range(1, 101):
                batch.add_message(full_message(index))
            await sender.send_messages(batch)

        received: list[Any] = []
        async with client.get_queue_receiver("events") as receiver:
            while len(received) < 50:
                messages = await receiver.receive_messages(max_message_count=50 - len(received), max_wait_time=5)
                assert messages
                for message in messages:
                    await receiver.complete_message(message)
                received.extend(messages)
        async with client.get_queue_receiver(
            "events", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
        ) as receiver:
            while len(received) < 101:
                messages = await receiver.receive_messages(max_message_count=101 - len(received), max_wait_time=5)
                assert messages
                received.extend(messages)

    for index, message in enumerate(received):
        assert_round_tripped(message, index)
    assert not server.broker.queues["events"] and not server.broker.locks


def test_sync_rejected_send_raises_the_mapped_error(server: BrokerThread) -> None:
    # Over the link's max-message-size (1 MiB): the engine rejects it with message-size-exceeded.
    with (
        ServiceBusClient.from_connection_string(server.connection_string, retry_total=0) as client,
        client.get_queue_sender("limits") as sender,
    ):
        with pytest.raises(MessageSizeExceededError):
            sender.send_messages(ServiceBusMessage(b"x" * (1024 * 1024 + 1)))
        sender.send_messages(ServiceBusMessage(b"fits"))
    assert [m.body for m in server.broker.queues["limits"]] == [b"fits"]


async def test_async_large_message_round_trips(server: BrokerThread) -> None:
    body = bytes(range(256)) * 800  # 200 KiB: the SDK splits it into frames of our max-frame-size
    async with AsyncServiceBusClient.from_connection_string(server.connection_string) as client:
        async with client.get_queue_sender("large") as sender:
            await sender.send_messages(ServiceBusMessage(body, message_id="large"))
        async with client.get_queue_receiver("large") as receiver:
            (message,) = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
            assert b"".join(message.body) == body and message.message_id == "large"
            await receiver.complete_message(message)
    assert not server.broker.locks
