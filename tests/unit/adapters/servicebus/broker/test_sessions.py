"""Sessions: required ids, accepting named and next-available sessions, session locks and state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.servicebus.broker import (
    Broker,
    InvalidOperation,
    MessageLockLost,
    OperationTimeout,
    ReceiveMode,
    SessionCannotBeLocked,
    SessionLockLost,
)
from adapters.servicebus.entities import QueueProperties
from tests.unit.adapters.servicebus.broker.support import Clock, bodies, counters, message


@pytest.fixture
async def sq(broker: Broker) -> str:
    await broker.create_queue(
        QueueProperties("sq", requires_session=True, lock_duration=timedelta(seconds=30), max_delivery_count=5)
    )
    return "sq"


async def test_sending_without_session_id_fails(broker: Broker, sq: str) -> None:
    with pytest.raises(InvalidOperation):
        await broker.send(sq, [message("a", session_id="s"), message("b")])
    assert broker.queue_runtime(sq).total_message_count == 0


async def test_a_session_entity_needs_a_session_receiver(broker: Broker, sq: str, queue: str) -> None:
    with pytest.raises(InvalidOperation):
        broker.receiver(sq)
    with pytest.raises(InvalidOperation):
        await broker.accept_session(queue, "s")
    broker.receiver(sq + "/$DeadLetterQueue")  # the dead-letter queue has no sessions


async def test_named_session_receives_its_messages_in_order(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message(f"{s}{i}", session_id=s) for i in range(3) for s in ("a", "b")])
    session = await broker.accept_session(sq, "a")
    assert session.session_id == "a"
    assert bodies(await session.receive(2)) == ["a0", "a1"]
    assert bodies(await session.receive(5)) == ["a2"]
    assert await session.receive(5, timeout=0) == []


async def test_abandoned_session_message_comes_back_first(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message(str(i), session_id="a") for i in range(3)])
    session = await broker.accept_session(sq, "a")
    first, _second = await session.receive(2)
    session.abandon(first.lock_token)  # type: ignore[arg-type]
    assert bodies(await session.receive(5)) == ["0", "2"]


async def test_a_locked_session_cannot_be_accepted_again(broker: Broker, sq: str) -> None:
    await broker.accept_session(sq, "a")
    with pytest.raises(SessionCannotBeLocked):
        await broker.accept_session(sq, "a")


async def test_an_empty_named_session_can_be_accepted(broker: Broker, sq: str) -> None:
    session = await broker.accept_session(sq, "nobody")
    assert await session.receive(1, timeout=0) == []


async def test_next_available_session_skips_locked_and_empty_ones(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("a", session_id="a"), message("b", session_id="b")])
    await broker.accept_session(sq, "empty")
    first = await broker.accept_session(sq)
    second = await broker.accept_session(sq)
    assert {first.session_id, second.session_id} == {"a", "b"}
    with pytest.raises(OperationTimeout):
        await broker.accept_session(sq, timeout=0.01)
    with pytest.raises(OperationTimeout):
        await broker.accept_session(sq, timeout=0)


async def test_a_waiting_acceptor_gets_the_next_session_with_messages(broker: Broker, sq: str) -> None:
    waiting = asyncio.create_task(broker.accept_session(sq, timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    await broker.send(sq, [message("x", session_id="s1")])
    session = await asyncio.wait_for(waiting, 1)
    assert session.session_id == "s1"
    assert bodies(await session.receive(1)) == ["x"]


async def test_a_session_receiver_waits_for_its_session_only(broker: Broker, sq: str) -> None:
    session = await broker.accept_session(sq, "mine")
    waiting = asyncio.create_task(session.receive(5, timeout=5))
    await asyncio.sleep(0)
    await broker.send(sq, [message("other", session_id="theirs"), message("m", session_id="mine")])
    assert bodies(await asyncio.wait_for(waiting, 1)) == ["m"]


async def test_session_lock_expiry_loses_the_session(broker: Broker, sq: str, clock: Clock) -> None:
    await broker.send(sq, [message("a", session_id="s"), message("b", session_id="s")])
    session = await broker.accept_session(sq, "s")
    [got] = await session.receive(1)
    token = got.lock_token
    waiting = asyncio.create_task(session.receive(1, timeout=5))  # "b" is handed out below
    await asyncio.sleep(0)
    clock.advance(30)
    broker.run_due()
    with pytest.raises(SessionLockLost):
        session.complete(token)  # type: ignore[arg-type]
    with pytest.raises(SessionLockLost):
        await session.receive(1)
    with pytest.raises(SessionLockLost):
        session.get_state()
    assert counters(broker, sq).lock_lost == 1
    await asyncio.gather(waiting, return_exceptions=True)
    again = await broker.accept_session(sq, "s")
    received = await again.receive(5)
    assert bodies(received) == ["a", "b"]
    assert received[0].delivery_count == 2  # its lock went with the session's


async def test_renewing_the_session_lock_keeps_it(broker: Broker, sq: str, clock: Clock) -> None:
    await broker.send(sq, [message("a", session_id="s")])
    session = await broker.accept_session(sq, "s")
    [got] = await session.receive(1)
    clock.advance(20)
    until = session.renew_session_lock()
    assert until == clock.now + 30 == session.locked_until == got.locked_until
    clock.advance(20)
    broker.run_due()
    session.complete(got.lock_token)  # type: ignore[arg-type]
    with pytest.raises(InvalidOperation):  # session messages are locked by the session lock
        session.renew_lock([got.lock_token])  # type: ignore[list-item]


async def test_closing_a_session_receiver_releases_session_and_messages(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("a", session_id="s")])
    session = await broker.accept_session(sq, "s")
    [got] = await session.receive(1)
    token = got.lock_token
    session.close()
    with pytest.raises(InvalidOperation):
        session.complete(token)  # type: ignore[arg-type]
    again = await broker.accept_session(sq)
    assert again.session_id == "s"
    [back] = await again.receive(1)
    assert back.delivery_count == 2


async def test_settling_with_a_token_of_another_session_is_lock_lost(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("a", session_id="a"), message("b", session_id="b")])
    a = await broker.accept_session(sq, "a")
    b = await broker.accept_session(sq, "b")
    [got] = await a.receive(1)
    with pytest.raises(MessageLockLost):
        b.complete(got.lock_token)  # type: ignore[arg-type]
    a.complete(got.lock_token)  # type: ignore[arg-type]


async def test_session_state(broker: Broker, sq: str) -> None:
    session = await broker.accept_session(sq, "s")
    assert session.get_state() is None
    await session.set_state(b"step-2")
    session.close()
    again = await broker.accept_session(sq, "s")  # state outlives the lock, even with no messages
    assert again.get_state() == b"step-2"
    await again.set_state(None)
    assert again.get_state() is None


async def test_session_receiver_for_management_requests(broker: Broker, sq: str) -> None:
    with pytest.raises(SessionLockLost):
        broker.session_receiver(sq, "s")
    session = await broker.accept_session(sq, "s")
    assert broker.session_receiver(sq, "s") is session
    with pytest.raises(SessionLockLost):  # session ids are case-sensitive
        broker.session_receiver(sq, "S")
    with pytest.raises(InvalidOperation):
        broker.session_receiver(sq + "/$DeadLetterQueue", "s")


async def test_session_peek_and_deferral(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("a1", session_id="a"), message("b1", session_id="b"), message("a2", session_id="a")])
    session = await broker.accept_session(sq, "a")
    assert bodies(session.peek(1, 10)) == ["a1", "a2"]
    [first] = await session.receive(1)
    session.defer(first.lock_token)  # type: ignore[arg-type]
    assert bodies(await session.receive(5)) == ["a2"]
    [deferred] = await session.receive_deferred([first.sequence_number])
    assert deferred.body == b"a1"


async def test_receive_and_delete_session(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("a", session_id="s")])
    session = await broker.accept_session(sq, "s", ReceiveMode.RECEIVE_AND_DELETE)
    assert bodies(await session.receive(5)) == ["a"]
    session.close()
    assert broker.queue_runtime(sq).total_message_count == 0


async def test_max_delivery_count_applies_to_session_messages(broker: Broker, sq: str) -> None:
    await broker.send(sq, [message("poison", session_id="s")])
    session = await broker.accept_session(sq, "s")
    for _ in range(5):
        [got] = await session.receive(1)
        session.abandon(got.lock_token)  # type: ignore[arg-type]
    assert await session.receive(1, timeout=0) == []
    assert broker.queue_runtime(sq).dead_letter_message_count == 1


async def test_a_cancelled_acceptor_releases_the_session(broker: Broker, sq: str) -> None:
    waiting = asyncio.create_task(broker.accept_session(sq, timeout=5))
    await asyncio.sleep(0)
    await broker.send(sq, [message("x", session_id="s")])
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    session = await broker.accept_session(sq, "s")
    assert bodies(await session.receive(1)) == ["x"]


async def test_broker_close_ends_waiting_acceptors(broker: Broker, sq: str) -> None:
    waiting = asyncio.create_task(broker.accept_session(sq))
    await asyncio.sleep(0)
    await broker.close()
    with pytest.raises(OperationTimeout):
        await asyncio.wait_for(waiting, 1)
