"""Sending: checks, duplicate detection, time to live, scheduling and cancellation."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from adapters.servicebus.broker import (
    Broker,
    InvalidOperation,
    MessageNotFound,
    MessageSizeExceeded,
    MessageState,
    MessagingEntityDisabled,
    MessagingEntityNotFound,
    QuotaExceeded,
)
from adapters.servicebus.broker.messages import DEAD_LETTER_DESCRIPTION, DEAD_LETTER_REASON
from adapters.servicebus.entities import (
    MAX_TIMESPAN,
    EntityStatus,
    QueueProperties,
    SubscriptionProperties,
    TopicProperties,
)
from tests.unit.adapters.servicebus.broker.support import Clock, bodies, counters, message


async def test_send_to_missing_entity_subscription_or_dead_letter_queue_fails(broker: Broker) -> None:
    with pytest.raises(MessagingEntityNotFound):
        await broker.send("nope", [message()])
    await broker.create_queue(QueueProperties("q"))
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    for path in ("q/$DeadLetterQueue", "t/Subscriptions/s", "t/subscriptions/s/$deadletterqueue"):
        with pytest.raises(InvalidOperation):
            await broker.send(path, [message()])


async def test_receive_from_a_topic_or_missing_path_fails(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    with pytest.raises(InvalidOperation):
        broker.receiver("t")
    with pytest.raises(MessagingEntityNotFound):
        broker.receiver("t/Subscriptions/missing")
    with pytest.raises(MessagingEntityNotFound):
        broker.receiver("missing/$DeadLetterQueue")


async def test_message_size_limit(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q", max_message_size_in_kilobytes=1))
    await broker.send("q", [message("x" * 1000)])
    with pytest.raises(MessageSizeExceeded):
        await broker.send("q", [message("ok"), message("x" * 1025)])
    assert len(broker.receiver("q").peek(1, 10)) == 1  # a refused batch stores nothing


async def test_properties_count_toward_the_size(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q", max_message_size_in_kilobytes=1))
    with pytest.raises(MessageSizeExceeded):
        await broker.send("q", [message("x" * 1000, application_properties={"k": "v" * 100})])


async def test_entity_size_quota(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q", max_size_in_megabytes=1))
    big = "x" * (600 * 1024)
    await broker.send("q", [message(big)])
    with pytest.raises(QuotaExceeded):
        await broker.send("q", [message(big)])


@pytest.mark.parametrize("status", [EntityStatus.DISABLED, EntityStatus.SEND_DISABLED])
async def test_send_refused_when_disabled(broker: Broker, status: EntityStatus) -> None:
    await broker.create_queue(QueueProperties("q", status=status))
    await broker.create_topic(TopicProperties("t", status=status))
    with pytest.raises(MessagingEntityDisabled):
        await broker.send("q", [message()])
    with pytest.raises(MessagingEntityDisabled):
        await broker.send("t", [message()])


@pytest.mark.parametrize("status", [EntityStatus.DISABLED, EntityStatus.RECEIVE_DISABLED])
async def test_receive_refused_when_disabled(broker: Broker, status: EntityStatus) -> None:
    await broker.create_queue(QueueProperties("q"))
    receiver = broker.receiver("q")
    await broker.update_queue(QueueProperties("q", status=status))
    with pytest.raises(MessagingEntityDisabled):
        broker.receiver("q")
    with pytest.raises(MessagingEntityDisabled):
        await receiver.receive(1)
    if status is EntityStatus.RECEIVE_DISABLED:
        await broker.send("q", [message()])  # sending still works


async def test_duplicate_detection_drops_a_repeat_within_the_window(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(
        QueueProperties(
            "q", requires_duplicate_detection=True, duplicate_detection_history_time_window=timedelta(minutes=1)
        )
    )
    assert await broker.send("q", [message("a", message_id="m1")]) == [1]
    assert await broker.send("q", [message("again", message_id="m1")]) == [1]  # accepted, not stored
    assert await broker.send("q", [message("b", message_id="m2"), message("no id")]) == [2, 3]
    clock.advance(61)
    assert await broker.send("q", [message("later", message_id="m1")]) == [4]
    assert bodies(broker.receiver("q").peek(1, 10)) == ["a", "b", "no id", "later"]
    assert counters(broker, "q").sent == 5


async def test_without_duplicate_detection_repeats_are_kept(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("a", message_id="m1"), message("b", message_id="m1")])
    assert len(broker.receiver("q").peek(1, 10)) == 2


async def test_ttl_is_the_smaller_of_message_and_entity(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q", default_message_time_to_live=timedelta(seconds=60)))
    await broker.send("q", [message("short", time_to_live=10.0), message("long", time_to_live=600.0), message("none")])
    assert [m.time_to_live for m in broker.receiver("q").peek(1, 10)] == [10.0, 60.0, 60.0]
    assert [m.expires_at for m in broker.receiver("q").peek(1, 10)] == [clock.now + 10, clock.now + 60, clock.now + 60]


async def test_without_a_time_to_live_a_message_never_expires(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message()])
    [stored] = broker.receiver("q").peek(1, 1)
    assert stored.expires_at == math.inf
    assert stored.time_to_live == MAX_TIMESPAN.total_seconds()  # the entity's default, as the service reports


async def test_expired_messages_are_removed(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("short", time_to_live=10.0), message("long")])
    clock.advance(10)
    receiver = broker.receiver("q")
    assert bodies(await receiver.receive(10, timeout=0)) == ["long"]
    assert broker.queue_runtime("q").dead_letter_message_count == 0


async def test_expired_messages_are_dead_lettered_when_asked(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q", dead_lettering_on_message_expiration=True))
    await broker.send("q", [message("short", time_to_live=10.0)])
    clock.advance(11)
    broker.run_due()
    [dead] = broker.receiver("q/$DeadLetterQueue").peek(1, 1)
    assert dead.application_properties[DEAD_LETTER_REASON] == "TTLExpiredException"
    assert dead.application_properties[DEAD_LETTER_DESCRIPTION] == "The message expired and was dead lettered."
    clock.advance(10**6)  # time to live is not observed in a dead-letter queue
    assert len(broker.receiver("q/$DeadLetterQueue").peek(1, 1)) == 1


async def test_a_locked_message_expires_when_its_lock_ends(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q", lock_duration=timedelta(seconds=30)))
    await broker.send("q", [message("a", time_to_live=10.0)])
    receiver = broker.receiver("q")
    [got] = await receiver.receive(1)
    clock.advance(20)  # expired, but locked: the holder may still complete it
    broker.run_due()
    receiver.complete(got.lock_token)  # type: ignore[arg-type]
    await broker.send("q", [message("b", time_to_live=10.0)])
    [got] = await receiver.receive(1)
    clock.advance(15)
    receiver.abandon(got.lock_token)  # type: ignore[arg-type]
    assert receiver.peek(1, 10) == []  # given back after its expiry: gone


async def test_deferred_messages_expire_too(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("a", time_to_live=10.0)])
    receiver = broker.receiver("q")
    [got] = await receiver.receive(1)
    receiver.defer(got.lock_token)  # type: ignore[arg-type]
    clock.advance(10)
    broker.run_due()
    assert receiver.peek(1, 10) == []


async def test_scheduled_message_becomes_active_at_its_time(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    [seq] = await broker.schedule("q", [message("later", time_to_live=100.0)], clock.now + 60)
    receiver = broker.receiver("q")
    assert await receiver.receive(1, timeout=0) == []
    assert broker.queue_runtime("q").scheduled_message_count == 1
    clock.advance(60)
    [got] = await receiver.receive(1, timeout=0)
    assert got.sequence_number == seq
    assert got.state is MessageState.ACTIVE
    assert got.enqueued_time == clock.now
    assert got.expires_at == clock.now + 100  # the time to live runs from activation
    assert broker.queue_runtime("q").scheduled_message_count == 0


async def test_scheduled_in_the_past_is_active_at_once(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("now", scheduled_enqueue_time=clock.now - 5)])
    assert bodies(await broker.receiver("q").receive(1, timeout=0)) == ["now"]


async def test_cancel_scheduled(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    first, second = await broker.schedule("q", [message("a"), message("b")], clock.now + 60)
    await broker.cancel_scheduled("q", [first])
    clock.advance(60)
    assert bodies(await broker.receiver("q").receive(5, timeout=0)) == ["b"]
    with pytest.raises(MessageNotFound):
        await broker.cancel_scheduled("q", [first])
    with pytest.raises(MessageNotFound):  # active now, no longer scheduled
        await broker.cancel_scheduled("q", [second])


async def test_a_scheduled_message_wakes_a_waiting_receiver(broker: Broker, clock: Clock) -> None:
    import asyncio

    await broker.create_queue(QueueProperties("q"))
    await broker.schedule("q", [message("later")], clock.now + 60)
    waiting = asyncio.create_task(broker.receiver("q").receive(1, timeout=5))
    await asyncio.sleep(0)
    clock.advance(60)
    broker.run_due()
    assert bodies(await asyncio.wait_for(waiting, 1)) == ["later"]


async def test_topic_scheduling_fans_out_at_the_time(broker: Broker, clock: Clock) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    first, second = await broker.schedule("t", [message("a"), message("b")], clock.now + 30)
    await broker.cancel_scheduled("t", [second])
    receiver = broker.receiver("t/Subscriptions/s")
    assert await receiver.receive(5, timeout=0) == []
    clock.advance(30)
    assert bodies(await receiver.receive(5, timeout=0)) == ["a"]
    assert broker.topic_runtime("t").scheduled_message_count == 0
    assert first == 1
