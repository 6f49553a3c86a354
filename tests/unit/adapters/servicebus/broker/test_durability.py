"""Durability through a real SQLite backend: a broker dropped without close (a crash) and reloaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.servicebus.broker import Broker, MessageState, ReceiveMode
from adapters.servicebus.broker.messages import DEAD_LETTER_REASON
from adapters.servicebus.broker.store import MESSAGES
from adapters.servicebus.entities import (
    CorrelationFilter,
    EntityStatus,
    QueueProperties,
    RuleProperties,
    SubscriptionProperties,
    TopicProperties,
)
from controlplane.state.sqlite import SqliteBackend
from tests.unit.adapters.servicebus.broker.support import Clock, bodies, message

ROOT = Path(__file__).resolve().parents[5]


def crashed_and_reloaded(path: Path, clock: Clock) -> Broker:
    """A new broker on the same file, as after kill -9: the old one is never closed."""
    broker = Broker(SqliteBackend(path), clock=clock)
    broker.load()
    return broker


async def test_acknowledged_state_survives_a_crash(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "servicebus.sqlite"
    broker = Broker(SqliteBackend(path), clock=clock)
    await broker.create_queue(
        QueueProperties("Orders", lock_duration=timedelta(seconds=30), status=EntityStatus.SEND_DISABLED)
    )
    await broker.update_queue(QueueProperties("orders", lock_duration=timedelta(seconds=30), max_delivery_count=4))
    props = {
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "id": uuid.UUID(int=7),
        "raw": b"\x00\x01",
        "span": timedelta(seconds=90),
        "money": Decimal("1.25"),
        "n": 3,
        "f": 0.5,
        "nan": float("inf"),
        "ok": True,
        "none": None,
        "text": "t",
    }
    assert await broker.send(
        "orders",
        [
            message("completed"),
            message("deferred"),
            message("dead"),
            message("locked", application_properties=props, correlation_id="c", subject="s", time_to_live=3600.0),
            message("untouched"),
        ],
    ) == [1, 2, 3, 4, 5]
    receiver = broker.receiver("orders")
    completed, deferred, dead, locked = await receiver.receive(4)
    receiver.complete(completed.lock_token)  # type: ignore[arg-type]
    receiver.defer(deferred.lock_token)  # type: ignore[arg-type]
    receiver.dead_letter(dead.lock_token, "Reason", "why")  # type: ignore[arg-type]
    later = [message("scheduled"), message("cancelled")]
    [scheduled, cancelled] = await broker.schedule("orders", later, clock.now + 60)
    await broker.cancel_scheduled("orders", [cancelled])

    await broker.create_queue(QueueProperties("drained"))
    await broker.send("drained", [message("1"), message("2")])
    for got in await broker.receiver("drained", ReceiveMode.RECEIVE_AND_DELETE).receive(2):
        assert got.sequence_number in (1, 2)

    await broker.create_queue(QueueProperties("sessions", requires_session=True))
    await broker.send("sessions", [message("s1", session_id="a")])
    session = await broker.accept_session("sessions", "a")
    await session.set_state(b"state-a")
    stateful = await broker.accept_session("sessions", "only-state")
    await stateful.set_state(b"kept")

    await broker.create_queue(QueueProperties("dedup", requires_duplicate_detection=True))
    await broker.send("dedup", [message("first", message_id="m1")])

    await broker.create_topic(TopicProperties("events"))
    rule = RuleProperties("events", "red", "onlyred", CorrelationFilter(subject="red"))
    await broker.create_subscription(SubscriptionProperties("events", "red"), rule)
    await broker.send("events", [message("r", subject="red"), message("b", subject="blue")])

    await broker.create_queue(QueueProperties("gone"))
    await broker.send("gone", [message("x")])
    await broker.delete_queue("gone")

    # -- kill -9: nothing is closed, nothing more is flushed ----------------------------------
    clock.advance(5)
    again = crashed_and_reloaded(path, clock)

    assert again.get_queue("ORDERS").name == "Orders"
    assert again.get_queue("orders").max_delivery_count == 4
    peeked = {m.body.decode(): m for m in again.receiver("orders").peek(1, 100)}
    assert set(peeked) == {"deferred", "locked", "untouched", "scheduled"}  # completed and cancelled: gone
    assert peeked["deferred"].state is MessageState.DEFERRED
    assert peeked["scheduled"].state is MessageState.SCHEDULED
    assert peeked["scheduled"].sequence_number == scheduled
    restored = peeked["locked"]
    assert restored.delivery_count == 1  # counted at delivery, before the crash
    assert restored.lock_token is None  # locks are not kept
    assert restored.application_properties == props
    assert (restored.correlation_id, restored.subject, restored.time_to_live) == ("c", "s", 3600.0)
    assert restored.enqueued_time == locked.enqueued_time
    [dlq] = again.receiver("orders/$DeadLetterQueue").peek(1, 10)
    assert (dlq.body, dlq.application_properties[DEAD_LETTER_REASON]) == (b"dead", "Reason")

    receiver = again.receiver("orders")
    redelivered = await receiver.receive(10, timeout=0)
    assert bodies(redelivered) == ["locked", "untouched"]
    assert [m.delivery_count for m in redelivered] == [2, 1]
    assert await again.send("orders", [message("after")]) == [8]  # sequence numbers continue
    assert await again.send("drained", [message("3")]) == [3]  # even when every message is gone
    [deferred_again] = await receiver.receive_deferred([deferred.sequence_number])
    assert deferred_again.body == b"deferred"

    session = await again.accept_session("sessions", "a")
    assert session.get_state() == b"state-a"
    assert bodies(await session.receive(5)) == ["s1"]
    assert (await again.accept_session("sessions", "only-state")).get_state() == b"kept"

    assert await again.send("dedup", [message("repeat", message_id="m1")]) == [1]
    assert bodies(again.receiver("dedup").peek(1, 10)) == ["first"]

    assert bodies(again.receiver("events/subscriptions/red").peek(1, 10)) == ["r"]
    await again.send("events", [message("r2", subject="red"), message("b2", subject="blue")])
    assert bodies(again.receiver("events/subscriptions/red").peek(1, 10)) == ["r", "r2"]

    assert [q.name for q in again.list_queues()] == ["dedup", "drained", "Orders", "sessions"]
    clock.advance(60)
    assert "scheduled" in bodies(await receiver.receive(10, timeout=0))


async def test_rows_of_a_half_deleted_entity_are_removed_on_load(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "servicebus.sqlite"
    backend = SqliteBackend(path)
    broker = Broker(backend, clock=clock)
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("a")])
    backend.delete("sb.queues", "1")  # only the definition's delete reached the disk
    await backend.flush()
    again = crashed_and_reloaded(path, clock)
    assert again.list_queues() == []
    await again.store.flush()
    assert list(SqliteBackend(path).load(MESSAGES)) == []


def _crash_script(path: Path) -> str:
    return textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from adapters.servicebus.broker import Broker, BrokerMessage
        from adapters.servicebus.entities import QueueProperties
        from controlplane.state.sqlite import SqliteBackend

        async def main():
            broker = Broker(SqliteBackend(Path({str(path)!r})))
            await broker.create_queue(QueueProperties("q"))
            receiver = broker.receiver("q")
            while True:
                seqs = await broker.send("q", [BrokerMessage(body=b"x") for _ in range(10)])
                print("sent", *seqs, flush=True)
                received = await receiver.receive(5)
                print("received", *(m.sequence_number for m in received), flush=True)
                for got in received:
                    receiver.complete(got.lock_token)
                    await broker.store.flush()
                    print("completed", got.sequence_number, flush=True)

        asyncio.run(main())
        """
    )


@pytest.mark.slow
async def test_kill_9_keeps_what_was_acknowledged(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "servicebus.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _crash_script(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    seen: dict[str, set[int]] = {"sent": set(), "received": set(), "completed": set()}
    assert child.stdout is not None
    try:
        for _ in range(400):
            kind, *numbers = child.stdout.readline().split()
            seen[kind].update(int(n) for n in numbers)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    for line in child.stdout.read().splitlines():  # what the child printed before it died
        kind, *numbers = line.split()
        seen[kind].update(int(n) for n in numbers)
    again = crashed_and_reloaded(path, clock)
    present = {m.sequence_number for m in again.receiver("q").peek(1, 100_000)}
    assert not present & seen["completed"]
    # A received message may have been completed just before the kill, without a word.
    assert seen["sent"] - seen["received"] <= present
    [next_sequence] = await again.send("q", [message()])
    assert next_sequence > max(seen["sent"])
