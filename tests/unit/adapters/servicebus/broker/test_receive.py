"""Sending to a queue and receiving from it: peek-lock, receive-and-delete, waiting receivers, settlement."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from adapters.servicebus.broker import (
    Broker,
    InvalidOperation,
    MessageLockLost,
    MessageNotFound,
    MessageState,
    MessagingEntityNotFound,
    ReceiveMode,
)
from adapters.servicebus.broker.messages import DEAD_LETTER_DESCRIPTION, DEAD_LETTER_REASON
from adapters.servicebus.entities import QueueProperties
from tests.unit.adapters.servicebus.broker.support import Clock, bodies, counters, message


async def test_sequence_numbers_start_at_one_per_entity(broker: Broker, queue: str) -> None:
    await broker.create_queue(QueueProperties("other"))
    assert await broker.send(queue, [message("a"), message("b")]) == [1, 2]
    assert await broker.send("other", [message("c")]) == [1]
    assert await broker.send(queue, [message("d")]) == [3]


async def test_peek_lock_delivers_in_order_and_locks(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message(str(i), message_id=f"m{i}") for i in range(5)])
    receiver = broker.receiver(queue)
    got = await receiver.receive(3)
    assert bodies(got) == ["0", "1", "2"]
    first = got[0]
    assert first.sequence_number == 1
    assert first.message_id == "m0"
    assert first.delivery_count == 1
    assert isinstance(first.lock_token, uuid.UUID)
    assert first.locked_until == clock.now + 30
    assert first.enqueued_time == clock.now
    assert bodies(await receiver.receive(10)) == ["3", "4"]
    assert await receiver.receive(10, timeout=0) == []


async def test_complete_removes_for_good(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    receiver.complete(got.lock_token)  # type: ignore[arg-type]
    assert receiver.peek(1, 10) == []
    assert counters(broker, queue).completed == 1
    with pytest.raises(MessageLockLost):
        receiver.complete(got.lock_token)  # type: ignore[arg-type]


async def test_unknown_lock_token_is_lock_lost(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue)
    for settle in (receiver.complete, receiver.abandon, receiver.defer, receiver.dead_letter):
        with pytest.raises(MessageLockLost):
            await settle(uuid.uuid4())
    with pytest.raises(MessageLockLost):
        receiver.renew_lock([uuid.uuid4()])


async def test_abandon_makes_it_available_with_properties_merged(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a", application_properties={"keep": 1, "change": "old"})])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    receiver.abandon(got.lock_token, {"change": "new", "added": True})  # type: ignore[arg-type]
    [again] = await receiver.receive(1)
    assert again.sequence_number == got.sequence_number
    assert again.delivery_count == 2
    assert again.application_properties == {"keep": 1, "change": "new", "added": True}


async def test_max_delivery_count_dead_letters(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("poison")])
    receiver = broker.receiver(queue)
    for _ in range(3):
        [got] = await receiver.receive(1)
        receiver.abandon(got.lock_token)  # type: ignore[arg-type]
    assert await receiver.receive(1, timeout=0) == []
    [dead] = await broker.receiver("q/$DeadLetterQueue").receive(1)
    assert dead.body == b"poison"
    assert dead.sequence_number == 1  # a dead-lettered message keeps its sequence number
    assert dead.delivery_count == 4  # the count of the queue plus this delivery
    assert dead.application_properties[DEAD_LETTER_REASON] == "MaxDeliveryCountExceeded"
    assert "3 delivery attempts" in dead.application_properties[DEAD_LETTER_DESCRIPTION]
    assert dead.dead_letter_source is None  # set only when forwarded from a dead-letter queue
    assert counters(broker, queue).dead_lettered == {"MaxDeliveryCountExceeded": 1}


async def test_lock_expiry_makes_it_available_again(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    first_token = got.lock_token
    clock.advance(29)
    assert await receiver.receive(1, timeout=0) == []
    clock.advance(1)
    [again] = await receiver.receive(1, timeout=0)
    assert again.delivery_count == 2
    assert again.lock_token != first_token
    assert counters(broker, queue).lock_lost == 1
    with pytest.raises(MessageLockLost):
        receiver.complete(first_token)  # type: ignore[arg-type]


async def test_settling_after_expiry_is_lock_lost_even_before_the_timer(
    broker: Broker, queue: str, clock: Clock
) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    clock.advance(31)
    with pytest.raises(MessageLockLost):
        receiver.complete(got.lock_token)  # type: ignore[arg-type]
    assert bodies(await receiver.receive(1, timeout=0)) == ["a"]


async def test_renew_lock_extends_it(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    clock.advance(20)
    [until] = receiver.renew_lock([got.lock_token])  # type: ignore[list-item]
    assert until == clock.now + 30 == got.locked_until
    clock.advance(20)  # past the first lock, within the renewed one
    assert await receiver.receive(1, timeout=0) == []
    receiver.complete(got.lock_token)  # type: ignore[arg-type]


async def test_locks_outlive_the_receiver_that_took_them(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    link = broker.receiver(queue)
    [got] = await link.receive(1)
    link.close()
    broker.receiver(queue).complete(got.lock_token)  # type: ignore[arg-type]
    with pytest.raises(InvalidOperation):
        await link.receive(1)


async def test_defer_then_receive_by_sequence_number(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a"), message("b")])
    receiver = broker.receiver(queue)
    [first] = await receiver.receive(1)
    receiver.defer(first.lock_token, {"why": "later"})  # type: ignore[arg-type]
    assert bodies(await receiver.receive(5)) == ["b"]  # deferred messages are not received normally
    [deferred] = await receiver.receive_deferred([first.sequence_number])
    assert deferred.state is MessageState.DEFERRED
    assert deferred.delivery_count == 2
    assert deferred.application_properties == {"why": "later"}
    with pytest.raises(MessageNotFound):  # already locked
        await receiver.receive_deferred([first.sequence_number])
    receiver.abandon(deferred.lock_token)  # type: ignore[arg-type]
    [back] = receiver.peek(1, 1)
    assert back.state is MessageState.DEFERRED  # an abandoned deferred message stays deferred
    [deferred] = await receiver.receive_deferred([first.sequence_number])
    receiver.complete(deferred.lock_token)  # type: ignore[arg-type]
    with pytest.raises(MessageNotFound):
        await receiver.receive_deferred([first.sequence_number])
    with pytest.raises(MessageNotFound):
        await receiver.receive_deferred([999])


async def test_dead_letter_with_reason_and_properties(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    receiver.dead_letter(got.lock_token, "Bad", "it was bad", {"extra": 5})  # type: ignore[arg-type]
    dlq = broker.receiver("Q/$deadletterqueue")
    [dead] = dlq.peek(1, 5)
    assert dead.application_properties == {"extra": 5, DEAD_LETTER_REASON: "Bad", DEAD_LETTER_DESCRIPTION: "it was bad"}
    assert dead.dead_letter_reason == "Bad"
    assert dead.dead_letter_error_description == "it was bad"
    [dead] = await dlq.receive(1)
    with pytest.raises(InvalidOperation):  # no dead-lettering out of a dead-letter queue
        dlq.dead_letter(dead.lock_token)  # type: ignore[arg-type]
    dlq.complete(dead.lock_token)  # type: ignore[arg-type]
    assert broker.queue_runtime(queue).dead_letter_message_count == 0


async def test_dead_letter_queue_ignores_max_delivery_count(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    receiver = broker.receiver(queue)
    [got] = await receiver.receive(1)
    receiver.dead_letter(got.lock_token)  # type: ignore[arg-type]
    dlq = broker.receiver("q/$DeadLetterQueue")
    for _ in range(5):
        [dead] = await dlq.receive(1)
        dlq.abandon(dead.lock_token)  # type: ignore[arg-type]
    assert len(dlq.peek(1, 10)) == 1


async def test_receive_and_delete(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a"), message("b")])
    receiver = broker.receiver(queue, ReceiveMode.RECEIVE_AND_DELETE)
    [got] = await receiver.receive(1)
    assert got.body == b"a"
    assert got.lock_token is None
    assert bodies(receiver.peek(1, 10)) == ["b"]
    assert (counters(broker, queue).delivered, counters(broker, queue).completed) == (1, 1)


async def test_peek_includes_locked_deferred_and_scheduled(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a"), message("b"), message("c")])
    await broker.schedule(queue, [message("s")], clock.now + 100)
    receiver = broker.receiver(queue)
    first, second = await receiver.receive(2)
    receiver.defer(second.lock_token)  # type: ignore[arg-type]
    peeked = receiver.peek(1, 10)
    assert bodies(peeked) == ["a", "b", "c", "s"]
    assert [m.state for m in peeked] == [
        MessageState.ACTIVE,
        MessageState.DEFERRED,
        MessageState.ACTIVE,
        MessageState.SCHEDULED,
    ]
    assert bodies(receiver.peek(3, 1)) == ["c"]
    assert first.lock_token is not None  # peeking took no lock away
    assert receiver.peek(1, 0) == []


async def test_a_waiting_receiver_is_woken_by_a_send(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue)
    waiting = asyncio.create_task(receiver.receive(10, timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    await broker.send(queue, [message("a"), message("b")])
    assert bodies(await asyncio.wait_for(waiting, 1)) == ["a", "b"]


async def test_waiting_receivers_share_a_batch_fairly(broker: Broker, queue: str) -> None:
    receivers = [broker.receiver(queue) for _ in range(3)]
    waiting = [asyncio.create_task(r.receive(10, timeout=5)) for r in receivers]
    await asyncio.sleep(0)
    await broker.send(queue, [message(str(i)) for i in range(7)])
    results = [bodies(r) for r in await asyncio.gather(*waiting)]
    assert results == [["0", "3", "6"], ["1", "4"], ["2", "5"]]


async def test_waiting_receivers_are_served_first_come_first_served(broker: Broker, queue: str) -> None:
    first = asyncio.create_task(broker.receiver(queue).receive(1, timeout=5))
    await asyncio.sleep(0)
    second = asyncio.create_task(broker.receiver(queue).receive(1, timeout=5))
    await asyncio.sleep(0)
    await broker.send(queue, [message("a")])
    assert bodies(await first) == ["a"]
    await broker.send(queue, [message("b")])
    assert bodies(await second) == ["b"]


async def test_a_new_receive_call_does_not_overtake_waiting_ones(broker: Broker, queue: str) -> None:
    waiting = asyncio.create_task(broker.receiver(queue).receive(1, timeout=5))
    await asyncio.sleep(0)
    await broker.send(queue, [message("a")])
    assert await broker.receiver(queue).receive(1, timeout=0) == []
    assert bodies(await waiting) == ["a"]


async def test_receive_times_out_empty(broker: Broker, queue: str) -> None:
    assert await broker.receiver(queue).receive(5, timeout=0.01) == []


async def test_closing_a_receiver_ends_its_waiting_calls(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue)
    waiting = asyncio.create_task(receiver.receive(5))
    await asyncio.sleep(0)
    receiver.close()
    assert await asyncio.wait_for(waiting, 1) == []


async def test_a_cancelled_waiting_call_gives_its_messages_back(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue)
    waiting = asyncio.create_task(receiver.receive(5, timeout=5))
    await asyncio.sleep(0)
    await broker.send(queue, [message("a")])
    await asyncio.sleep(0)  # the hand-out runs: the message is locked for the waiting call
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert bodies(await receiver.receive(5, timeout=0)) == ["a"]


async def test_a_cancelled_receive_and_delete_call_puts_the_message_back(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue, ReceiveMode.RECEIVE_AND_DELETE)
    waiting = asyncio.create_task(receiver.receive(5, timeout=5))
    await asyncio.sleep(0)
    await broker.send(queue, [message("a")])
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert bodies(await receiver.receive(5, timeout=0)) == ["a"]


async def test_a_lock_expiry_wakes_a_waiting_receiver(broker: Broker, queue: str, clock: Clock) -> None:
    await broker.send(queue, [message("a")])
    await broker.receiver(queue).receive(1)
    waiting = asyncio.create_task(broker.receiver(queue).receive(1, timeout=5))
    await asyncio.sleep(0)
    clock.advance(30)
    broker.run_due()
    [got] = await asyncio.wait_for(waiting, 1)
    assert got.delivery_count == 2


async def test_the_timer_task_expires_locks_on_its_own(broker: Broker) -> None:
    """With the real clock: nobody calls run_due, the background task does."""
    real = Broker(broker.store.backend)
    real.start()
    try:
        await real.create_queue(QueueProperties("fast", lock_duration=timedelta(milliseconds=50)))
        await real.send("fast", [message("a")])
        await real.receiver("fast").receive(1)
        waiting = asyncio.create_task(real.receiver("fast").receive(1, timeout=2))
        [got] = await asyncio.wait_for(waiting, 2)
        assert got.delivery_count == 2
    finally:
        await real.close()


async def test_receivers_on_a_deleted_entity_fail(broker: Broker, queue: str) -> None:
    receiver = broker.receiver(queue)
    waiting = asyncio.create_task(receiver.receive(5))
    await asyncio.sleep(0)
    await broker.delete_queue(queue)
    with pytest.raises(MessagingEntityNotFound):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(MessagingEntityNotFound):
        await receiver.receive(1)


async def test_broker_close_ends_waiting_calls(broker: Broker, queue: str) -> None:
    waiting = asyncio.create_task(broker.receiver(queue).receive(5))
    await asyncio.sleep(0)
    await broker.close()
    assert await asyncio.wait_for(waiting, 1) == []


async def test_receive_of_zero_messages(broker: Broker, queue: str) -> None:
    await broker.send(queue, [message("a")])
    assert await broker.receiver(queue).receive(0) == []
