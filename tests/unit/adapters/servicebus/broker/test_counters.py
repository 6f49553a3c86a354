"""Per-path message counters (sent, delivered, completed, dead-lettered by reason, lock losses),
and the released outcome, which returns a message without counting the delivery."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.servicebus.broker import Broker, MessageLockLost, ReceiveMode
from adapters.servicebus.entities import QueueProperties, SubscriptionProperties, TopicProperties
from controlplane.state.sqlite import SqliteBackend
from tests.unit.adapters.servicebus.broker.support import Clock, counters, message


async def test_every_path_is_listed_with_what_clients_do_there(broker: Broker, queue: str) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    listed = {(entry.path, entry.sendable, entry.receivable) for entry in broker.message_counters()}
    assert listed == {
        ("q", True, True),
        ("q/$DeadLetterQueue", False, True),
        ("t", True, False),
        ("t/Subscriptions/s", False, True),
        ("t/Subscriptions/s/$DeadLetterQueue", False, True),
    }


async def test_sends_count_on_the_queue_or_topic_sent_to(broker: Broker, queue: str) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    await broker.send(queue, [message("a"), message("b")])
    await broker.send("t", [message("c")])
    assert counters(broker, queue).sent == 2
    assert counters(broker, "t").sent == 1
    assert counters(broker, "t/Subscriptions/s").sent == 0  # a fan-out copy is not a send


async def test_deliveries_redeliveries_and_completions(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a"), message("b")])
    receiver = broker.receiver(queue)
    first, second = await receiver.receive(2)
    receiver.abandon(first.lock_token)  # type: ignore[arg-type]
    [again] = await receiver.receive(1)
    receiver.complete(again.lock_token)  # type: ignore[arg-type]
    receiver.complete(second.lock_token)  # type: ignore[arg-type]
    got = counters(broker, queue)
    assert (got.delivered, got.completed, got.lock_lost) == (3, 2, 0)


async def test_receive_and_delete_counts_as_delivered_and_completed(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a"), message("b")])
    await broker.receiver(queue, ReceiveMode.RECEIVE_AND_DELETE).receive(5)
    got = counters(broker, queue)
    assert (got.delivered, got.completed) == (2, 2)


@pytest.mark.parametrize("mode", [ReceiveMode.PEEK_LOCK, ReceiveMode.RECEIVE_AND_DELETE])
async def test_a_cancelled_call_takes_back_what_it_counted(broker: Broker, queue: str, mode: ReceiveMode) -> None:
    receiver = broker.receiver(queue, mode)
    waiting = asyncio.create_task(receiver.receive(5, timeout=5))
    await asyncio.sleep(0)
    await broker.send(queue, [message("a")])
    await asyncio.sleep(0)  # handed to the waiting call, which is then cancelled
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    got = counters(broker, queue)
    assert (got.delivered, got.completed) == (0, 0)


async def test_dead_letters_are_counted_by_reason_where_they_come_from(
    broker: Broker, queue: str, clock: Clock
) -> None:
    await broker.create_queue(QueueProperties("ttl", dead_lettering_on_message_expiration=True))
    await broker.send(queue, [message("bad"), message("poison")])
    receiver = broker.receiver(queue)
    bad, poison = await receiver.receive(2)
    receiver.dead_letter(bad.lock_token, "anything the client says")  # type: ignore[arg-type]
    receiver.abandon(poison.lock_token)  # type: ignore[arg-type]
    for _ in range(2):  # max_delivery_count is 3
        [poison] = await receiver.receive(1)
        receiver.abandon(poison.lock_token)  # type: ignore[arg-type]
    await broker.send("ttl", [message("old", time_to_live=1.0)])
    clock.advance(2)
    broker.run_due()
    assert counters(broker, queue).dead_lettered == {"client": 1, "MaxDeliveryCountExceeded": 1}
    assert counters(broker, "ttl").dead_lettered == {"TTLExpiredException": 1}
    assert counters(broker, "q/$DeadLetterQueue").dead_lettered == {}


async def test_a_session_less_message_to_a_session_subscription_is_counted(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s", requires_session=True))
    await broker.send("t", [message("no session")])
    assert counters(broker, "t/Subscriptions/s").dead_lettered == {"Session ID is null": 1}


async def test_each_lost_lock_is_counted_once(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a"), message("b")])
    receiver = broker.receiver(queue)
    first, second = await receiver.receive(2)
    clock.advance(31)
    for token in (first.lock_token, first.lock_token, second.lock_token):
        with pytest.raises(MessageLockLost):
            receiver.complete(token)  # type: ignore[arg-type]
    assert counters(broker, queue).lock_lost == 2


async def test_a_renewed_lock_is_not_lost(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    clock.advance(20)
    receiver.renew_lock([got.lock_token])  # type: ignore[list-item]
    clock.advance(20)
    broker.run_due()
    receiver.complete(got.lock_token)  # type: ignore[arg-type]
    assert counters(broker, queue).lock_lost == 0


async def test_released_returns_the_message_without_counting_the_delivery(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    for _ in range(5):  # more than max_delivery_count (3): released deliveries are not attempts
        [got] = await receiver.receive(1)
        assert got.delivery_count == 1
        receiver.abandon(got.lock_token, {"seen": True}, failed=False)  # type: ignore[arg-type]
    [got] = await receiver.receive(1)
    assert got.application_properties["seen"] is True
    assert counters(broker, queue).dead_lettered == {}


async def test_a_released_delivery_count_survives_a_crash(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "servicebus.sqlite"
    broker = Broker(SqliteBackend(path), clock=clock)
    await broker.create_queue(QueueProperties("q", lock_duration=timedelta(seconds=30)))
    await broker.send("q", [message("a")])
    receiver = broker.receiver("q")
    [got] = await receiver.receive(1)
    receiver.abandon(got.lock_token, failed=False)  # type: ignore[arg-type]
    await broker.store.flush()
    reloaded = Broker(SqliteBackend(path), clock=clock)  # the first is never closed, as after kill -9
    reloaded.load()
    [again] = await reloaded.receiver("q").receive(1)
    assert again.delivery_count == 1
