"""The asyncio SDK (azure.servicebus.aio and its management client) against the same emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceExistsError, ResourceNotFoundError
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.exceptions import (
    MessageLockLostError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    SessionCannotBeLockedError,
)
from azure.servicebus.management import CorrelationRuleFilter, SqlRuleAction, SqlRuleFilter

from tests.sdk.servicebus.support import unique


@pytest.fixture
async def aadmin(connection_string: str, ca_file: str) -> AsyncIterator[ServiceBusAdministrationClient]:
    async with ServiceBusAdministrationClient.from_connection_string(
        connection_string, connection_verify=ca_file
    ) as client:
        yield client


@pytest.fixture
async def aclient(connection_string: str) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(connection_string) as client:
        yield client


@pytest.fixture
async def aqueue(aadmin: ServiceBusAdministrationClient) -> AsyncIterator[str]:
    name = unique("aq")
    await aadmin.create_queue(name, lock_duration=timedelta(seconds=5))
    yield name
    await aadmin.delete_queue(name)


async def _receive(receiver: ServiceBusReceiver, count: int, timeout: float = 10) -> list[ServiceBusReceivedMessage]:
    received: list[ServiceBusReceivedMessage] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(received) < count:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        received += await receiver.receive_messages(max_message_count=count - len(received), max_wait_time=left)
    return received


async def test_async_administration_lifecycle(aadmin: ServiceBusAdministrationClient) -> None:
    queue, topic = unique("aq"), unique("at")
    created = await aadmin.create_queue(queue, max_delivery_count=4, lock_duration=timedelta(seconds=30))
    try:
        assert (created.max_delivery_count, created.lock_duration) == (4, timedelta(seconds=30))
        with pytest.raises(ResourceExistsError):
            await aadmin.create_queue(queue)
        props = await aadmin.get_queue(queue)
        props.max_delivery_count = 6
        await aadmin.update_queue(props)
        assert (await aadmin.get_queue(queue)).max_delivery_count == 6
        names = [q.name async for q in aadmin.list_queues()]
        assert queue in names
        pages = []
        async for page in aadmin.list_queues(max_page_size=1).by_page():
            pages.append([q.name async for q in page])
        assert all(len(p) == 1 for p in pages) and [p[0] for p in pages] == names
        assert (await aadmin.get_queue_runtime_properties(queue)).active_message_count == 0

        await aadmin.create_topic(topic, default_message_time_to_live=timedelta(minutes=5))
        await aadmin.create_subscription(topic, "sub", max_delivery_count=2)
        await aadmin.create_rule(topic, "sub", "sql", filter=SqlRuleFilter("a = 1"), action=SqlRuleAction("SET b = 2"))
        await aadmin.create_rule(topic, "sub", "corr", filter=CorrelationRuleFilter(label="x"))
        rules = sorted([r.name async for r in aadmin.list_rules(topic, "sub")])
        assert rules == ["$Default", "corr", "sql"]
        rule = await aadmin.get_rule(topic, "sub", "sql")
        assert rule.filter.sql_expression == "a = 1" and rule.action.sql_expression == "SET b = 2"
        await aadmin.delete_rule(topic, "sub", "corr")
        subscription = await aadmin.get_subscription(topic, "sub")
        assert subscription.max_delivery_count == 2
        await aadmin.update_subscription(topic, subscription, max_delivery_count=3)
        assert (await aadmin.get_subscription(topic, "sub")).max_delivery_count == 3
        assert [s.name async for s in aadmin.list_subscriptions(topic)] == ["sub"]
        assert (await aadmin.get_topic_runtime_properties(topic)).subscription_count == 1
        await aadmin.delete_subscription(topic, "sub")
        with pytest.raises(ResourceNotFoundError):
            await aadmin.get_subscription(topic, "sub")
    finally:
        await aadmin.delete_queue(queue)
        await aadmin.delete_topic(topic)
    for missing in (aadmin.get_queue(queue), aadmin.delete_queue(queue), aadmin.get_topic(topic)):
        with pytest.raises(ResourceNotFoundError):
            await missing


async def test_async_wrong_key(connection_string: str, ca_file: str, aqueue: str) -> None:
    wrong = connection_string.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=nope")
    async with ServiceBusAdministrationClient.from_connection_string(wrong, connection_verify=ca_file) as admin:
        with pytest.raises(ClientAuthenticationError):
            await admin.get_queue(aqueue)
    async with ServiceBusClient.from_connection_string(wrong, retry_total=0) as client:
        with pytest.raises(ServiceBusAuthenticationError):
            async with client.get_queue_sender(aqueue) as sender:
                await sender.send_messages(ServiceBusMessage("never"))


async def test_async_missing_entity(connection_string: str) -> None:
    async with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
        with pytest.raises(MessagingEntityNotFoundError):
            async with client.get_queue_sender(unique("nowhere")) as sender:
                await sender.send_messages(ServiceBusMessage("lost"))


async def test_async_send_and_settle(
    aclient: ServiceBusClient, aadmin: ServiceBusAdministrationClient, aqueue: str
) -> None:
    async with aclient.get_queue_sender(aqueue) as sender:
        await sender.send_messages(
            ServiceBusMessage(
                "single", message_id="s", correlation_id="c", subject="subj", application_properties={"n": 1}
            )
        )
        batch = await sender.create_message_batch()
        for i in range(4):
            batch.add_message(ServiceBusMessage(f"b{i}", message_id=f"b{i}"))
        await sender.send_messages(batch)
    async with aclient.get_queue_receiver(aqueue, prefetch_count=10) as receiver:
        received = await _receive(receiver, 5)
        assert [str(m) for m in received] == ["single", "b0", "b1", "b2", "b3"]
        first = received[0]
        assert (first.message_id, first.correlation_id, first.subject) == ("s", "c", "subj")
        assert first.application_properties == {b"n": 1}
        await receiver.complete_message(first)
        await receiver.abandon_message(received[1])
        await receiver.defer_message(received[2])
        await receiver.dead_letter_message(received[3], reason="why", error_description="because")
        renewed = await receiver.renew_message_lock(received[4])
        assert renewed > datetime.now(UTC)
        await receiver.complete_message(received[4])

        [again] = await _receive(receiver, 1)
        assert (str(again), again.delivery_count) == ("b0", 1)
        await receiver.complete_message(again)
        [deferred] = await receiver.receive_deferred_messages([received[2].sequence_number])
        assert str(deferred) == "b1"
        await receiver.complete_message(deferred)
    async with aclient.get_queue_receiver(aqueue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = await _receive(dead, 1)
        assert (str(message), message.dead_letter_reason, message.dead_letter_error_description) == (
            "b2",
            "why",
            "because",
        )
        await dead.complete_message(message)
    runtime = await aadmin.get_queue_runtime_properties(aqueue)
    assert (runtime.active_message_count, runtime.dead_letter_message_count) == (0, 0)


async def test_async_lock_expiry(aclient: ServiceBusClient, aqueue: str) -> None:
    async with aclient.get_queue_sender(aqueue) as sender:
        await sender.send_messages(ServiceBusMessage("slow"))
    async with aclient.get_queue_receiver(aqueue) as receiver:
        [message] = await _receive(receiver, 1)
        [again] = await _receive(receiver, 1, timeout=15)
        assert again.delivery_count == 1
        with pytest.raises(MessageLockLostError):
            await receiver.complete_message(message)
        await receiver.complete_message(again)


async def test_async_schedule_cancel_peek_and_receive_and_delete(aclient: ServiceBusClient, aqueue: str) -> None:
    async with aclient.get_queue_sender(aqueue) as sender:
        await sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        soon = datetime.now(UTC) + timedelta(seconds=1)
        [kept] = await sender.schedule_messages(ServiceBusMessage("scheduled"), soon)
        [cancelled] = await sender.schedule_messages(ServiceBusMessage("cancelled"), soon + timedelta(hours=1))
        await sender.cancel_scheduled_messages(cancelled)
    async with aclient.get_queue_receiver(aqueue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
        peeked = await receiver.peek_messages(max_message_count=10)
        assert [str(m) for m in peeked] == ["m0", "m1", "m2", "scheduled"]
        assert peeked[-1].sequence_number == kept
        received = await _receive(receiver, 4)
        assert [str(m) for m in received] == ["m0", "m1", "m2", "scheduled"]
        assert await receiver.peek_messages(max_message_count=10, sequence_number=1) == []


async def test_async_concurrent_receivers_never_share_a_message(aclient: ServiceBusClient, aqueue: str) -> None:
    async with aclient.get_queue_sender(aqueue) as sender:
        await sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(40)])

    async def consume() -> list[str]:
        got: list[str] = []
        async with aclient.get_queue_receiver(aqueue) as receiver:
            while True:
                batch = await receiver.receive_messages(max_message_count=5, max_wait_time=1)
                if not batch:
                    return got
                for message in batch:
                    await receiver.complete_message(message)
                    got.append(str(message))

    results = await asyncio.gather(*(consume() for _ in range(4)))
    everything = [text for result in results for text in result]
    assert sorted(everything) == sorted(f"m{i}" for i in range(40))


async def test_async_sessions(
    aclient: ServiceBusClient, aadmin: ServiceBusAdministrationClient, connection_string: str
) -> None:
    queue = unique("asq")
    await aadmin.create_queue(queue, requires_session=True, lock_duration=timedelta(seconds=10))
    try:
        async with aclient.get_queue_sender(queue) as sender:
            await sender.send_messages([ServiceBusMessage(f"{s}{i}", session_id=s) for i in range(2) for s in "ab"])
        async with aclient.get_queue_receiver(queue, session_id="b") as receiver:
            session = receiver.session
            assert await session.get_state() is None
            await session.set_state(b"half")
            assert await session.get_state() == b"half"
            before = session.locked_until_utc
            await asyncio.sleep(1)
            assert await session.renew_lock() > before
            async with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as other:
                with pytest.raises(SessionCannotBeLockedError):
                    async with other.get_queue_receiver(queue, session_id="b") as intruder:
                        await intruder.receive_messages(max_wait_time=1)
            received = await _receive(receiver, 2)
            assert [str(m) for m in received] == ["b0", "b1"]
            for message in received:
                await receiver.complete_message(message)
        async with aclient.get_queue_receiver(queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=5) as receiver:
            assert receiver.session.session_id == "a"
            received = await _receive(receiver, 2)
            assert [str(m) for m in received] == ["a0", "a1"]
            for message in received:
                await receiver.complete_message(message)
        async with aclient.get_queue_receiver(queue, session_id="b") as receiver:
            assert await receiver.session.get_state() == b"half"
    finally:
        await aadmin.delete_queue(queue)


async def test_async_topic_with_rules(aclient: ServiceBusClient, aadmin: ServiceBusAdministrationClient) -> None:
    topic = unique("at")
    await aadmin.create_topic(topic)
    try:
        await aadmin.create_subscription(topic, "all")
        await aadmin.create_subscription(topic, "big")
        await aadmin.delete_rule(topic, "big", "$Default")
        await aadmin.create_rule(
            topic, "big", "over-100", filter=SqlRuleFilter("amount > 100"), action=SqlRuleAction("SET tier = 'gold'")
        )
        async with aclient.get_topic_sender(topic) as sender:
            await sender.send_messages(
                [ServiceBusMessage(str(a), application_properties={"amount": a}) for a in (5, 500, 50, 1000)]
            )
        async with aclient.get_subscription_receiver(topic, "all") as receiver:
            received = await _receive(receiver, 4)
            assert [str(m) for m in received] == ["5", "500", "50", "1000"]
            for message in received:
                await receiver.complete_message(message)
        async with aclient.get_subscription_receiver(topic, "big") as receiver:
            received = await _receive(receiver, 2)
            assert [str(m) for m in received] == ["500", "1000"]
            assert all(m.application_properties[b"tier"] == b"gold" for m in received)
            for message in received:
                await receiver.complete_message(message)
            assert await receiver.receive_messages(max_wait_time=0.5) == []
    finally:
        await aadmin.delete_topic(topic)
