"""Receive modes and settlement: complete, abandon, defer, dead-letter, lock renewal and expiry,
maximum delivery count and TTL expiry (links/entity.py, links/management.py, the broker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import MessageLockLostError, MessageNotFoundError
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.sdk.servicebus.support import QueueFactory, receive
from tests.support import wait_for


def _send(client: ServiceBusClient, queue: str, *bodies: str) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(body, message_id=body) for body in bodies])


def test_peek_lock_complete_removes_the_message(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, queue: str
) -> None:
    _send(client, queue, "a", "b")
    assert admin.get_queue_runtime_properties(queue).active_message_count == 2
    with client.get_queue_receiver(queue) as receiver:
        received = receive(receiver, 2)
        assert [str(m) for m in received] == ["a", "b"]
        assert all(m.lock_token and m.locked_until_utc > datetime.now(UTC) for m in received)
        for message in received:
            receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []
    assert admin.get_queue_runtime_properties(queue).active_message_count == 0


@pytest.mark.parametrize("prefetch", [0, 7])
def test_receive_and_delete_with_prefetch(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, queue: str, prefetch: int
) -> None:
    bodies = [f"m{i}" for i in range(20)]
    _send(client, queue, *bodies)
    with client.get_queue_receiver(
        queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE, prefetch_count=prefetch
    ) as receiver:
        received = receive(receiver, 20)
        assert [str(m) for m in received] == bodies
        assert all(m.lock_token is None for m in received)
    assert admin.get_queue_runtime_properties(queue).active_message_count == 0
    with client.get_queue_receiver(queue) as receiver:
        assert receiver.receive_messages(max_wait_time=1) == []


def test_prefetched_messages_are_released_when_the_receiver_closes(client: ServiceBusClient, queue: str) -> None:
    _send(client, queue, *(f"m{i}" for i in range(10)))
    with client.get_queue_receiver(queue, prefetch_count=10) as receiver:
        received = receive(receiver, 3)
        assert [str(m) for m in received] == ["m0", "m1", "m2"]
        for message in received:
            receiver.complete_message(message)
    # The other seven were delivered (locked) into the receiver's buffer. Closing, the SDK drains
    # the link and releases them (then detaches): they are available again at once, not after
    # their 5 s locks, and the delivery that was never processed is not counted.
    started = time.monotonic()
    with client.get_queue_receiver(queue) as receiver:
        again = receive(receiver, 7, timeout=15)
        assert time.monotonic() - started < 4
        assert [(str(m), m.delivery_count) for m in again] == [(f"m{i}", 0) for i in range(3, 10)]
        for message in again:
            receiver.complete_message(message)


def test_abandon_makes_the_message_available_with_a_higher_delivery_count(client: ServiceBusClient, queue: str) -> None:
    _send(client, queue, "again")
    with client.get_queue_receiver(queue) as receiver:
        [first] = receive(receiver, 1)
        assert first.delivery_count == 0
        receiver.abandon_message(first)
        [second] = receive(receiver, 1)
        assert (str(second), second.delivery_count) == ("again", 1)
        assert second.sequence_number == first.sequence_number
        assert second.lock_token != first.lock_token
        receiver.complete_message(second)


@pytest.mark.parametrize(
    ("outcome", "fields"),
    [("released", {}), ("modified", {"delivery_failed": False, "undeliverable_here": False})],
)
def test_released_or_unfailed_modified_returns_the_message_without_counting_a_delivery(
    client: ServiceBusClient, new_queue: QueueFactory, outcome: str, fields: dict[str, bool]
) -> None:
    # Outcomes the SDK's public API does not send (its abandon is modified with delivery-failed),
    # so they go through its own AMQP client: AMQP 1.0 3.4.4 and 3.4.5 say neither counts.
    queue = new_queue(max_delivery_count=1).name
    _send(client, queue, "not now")
    with client.get_queue_receiver(queue) as receiver:
        for _ in range(3):  # past max_delivery_count: never dead-lettered
            [message] = receive(receiver, 1)
            assert message.delivery_count == 0
            receiver._handler.settle_messages(  # type: ignore[union-attr]
                message._delivery_id, message._delivery_tag, outcome, await_outcome=True, **fields
            )
        [message] = receive(receiver, 1)
        assert (str(message), message.delivery_count) == ("not now", 0)
        receiver.complete_message(message)


def test_defer_then_receive_deferred_and_settle_through_management(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, queue: str, connection_string: str
) -> None:
    _send(client, queue, "d1", "d2", "d3", "d4")
    with client.get_queue_receiver(queue) as receiver:
        received = receive(receiver, 4)
        sequence_numbers = [m.sequence_number for m in received]
        for message in received:
            receiver.defer_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []
        # Deferred messages still count as active.
        assert admin.get_queue_runtime_properties(queue).active_message_count == 4

        deferred = receiver.receive_deferred_messages(sequence_numbers)
        assert [str(m) for m in deferred] == ["d1", "d2", "d3", "d4"]
        assert all(m.lock_token for m in deferred)
        # A deferred message is settled over $management (update-disposition), not the link.
        receiver.complete_message(deferred[0])
        receiver.dead_letter_message(deferred[1], reason="late", error_description="deferred too long")
        receiver.abandon_message(deferred[2])  # back to deferred: only by sequence number again
        receiver.defer_message(deferred[3])
        assert receiver.receive_messages(max_wait_time=1) == []

        again = receiver.receive_deferred_messages(sequence_numbers[2:])
        assert [(str(m), m.delivery_count) for m in again] == [("d3", 2), ("d4", 2)]
        for message in again:
            receiver.complete_message(message)

    # The SDK retries message-not-found (as it does against Azure): no retries here keeps the test fast.
    with (
        ServiceBusClient.from_connection_string(connection_string, retry_total=0) as impatient,
        impatient.get_queue_receiver(queue) as receiver,
        pytest.raises(MessageNotFoundError),
    ):
        receiver.receive_deferred_messages([sequence_numbers[0]])  # completed: gone

    with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = receive(dead, 1)
        assert (str(message), message.dead_letter_reason, message.dead_letter_error_description) == (
            "d2",
            "late",
            "deferred too long",
        )
        dead.complete_message(message)
    runtime = admin.get_queue_runtime_properties(queue)
    assert (runtime.active_message_count, runtime.dead_letter_message_count) == (0, 0)


def test_receive_deferred_in_receive_and_delete_mode(client: ServiceBusClient, queue: str) -> None:
    _send(client, queue, "later")
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        receiver.defer_message(message)
    with client.get_queue_receiver(queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
        [deferred] = receiver.receive_deferred_messages([message.sequence_number])
        assert str(deferred) == "later"
        assert receiver.peek_messages(max_message_count=5) == []


def test_dead_letter_with_reason_and_description(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, queue: str
) -> None:
    _send(client, queue, "poison")
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        receiver.dead_letter_message(message, reason="bad-format", error_description="field x is missing")
    runtime = admin.get_queue_runtime_properties(queue)
    assert (runtime.active_message_count, runtime.dead_letter_message_count) == (0, 1)
    with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [dead_lettered] = receive(dead, 1)
        assert str(dead_lettered) == "poison"
        assert dead_lettered.message_id == "poison"
        assert dead_lettered.dead_letter_reason == "bad-format"
        assert dead_lettered.dead_letter_error_description == "field x is missing"
        assert dead_lettered.dead_letter_source is None
        dead.complete_message(dead_lettered)
    assert admin.get_queue_runtime_properties(queue).dead_letter_message_count == 0


def test_renew_message_lock(client: ServiceBusClient, queue: str) -> None:
    _send(client, queue, "long job")
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        first = message.locked_until_utc
        time.sleep(3)
        renewed = receiver.renew_message_lock(message)
        assert renewed > first + timedelta(seconds=2)
        assert message.locked_until_utc == renewed
        time.sleep(3)  # past the first lock's expiry (5 s), within the renewed one
        receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []


def test_lock_expiry_redelivers_and_the_old_lock_is_lost(client: ServiceBusClient, queue: str) -> None:
    _send(client, queue, "slow")
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert message.delivery_count == 0
        [again] = receive(receiver, 1, timeout=15)  # the 5 s lock expires, the message comes back
        assert (str(again), again.delivery_count) == ("slow", 1)
        assert again.sequence_number == message.sequence_number
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(message)
        receiver.complete_message(again)


def test_max_delivery_count_moves_the_message_to_the_dead_letter_queue(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    queue = new_queue(max_delivery_count=3).name
    _send(client, queue, "unlucky")
    with client.get_queue_receiver(queue) as receiver:
        for attempt in range(3):
            [message] = receive(receiver, 1)
            assert message.delivery_count == attempt
            receiver.abandon_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []
    with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = receive(dead, 1)
        assert str(message) == "unlucky"
        assert message.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert message.dead_letter_error_description
        dead.complete_message(message)


@pytest.mark.parametrize("dead_lettering", [True, False])
def test_ttl_expiry(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory, dead_lettering: bool
) -> None:
    queue = new_queue(dead_lettering_on_message_expiration=dead_lettering).name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("short-lived", time_to_live=timedelta(seconds=1)))
        sender.send_messages(ServiceBusMessage("long-lived"))
    wait_for(lambda: admin.get_queue_runtime_properties(queue).active_message_count == 1, timeout=10)
    runtime = admin.get_queue_runtime_properties(queue)
    assert runtime.dead_letter_message_count == (1 if dead_lettering else 0)
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert str(message) == "long-lived"
        receiver.complete_message(message)
    if dead_lettering:
        with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
            [expired] = receive(dead, 1)
            assert str(expired) == "short-lived"
            assert expired.dead_letter_reason == "TTLExpiredException"
            dead.complete_message(expired)


def test_queue_default_ttl_applies_to_messages_without_one(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    queue = new_queue(default_message_time_to_live=timedelta(minutes=5)).name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage("default"), ServiceBusMessage("own", time_to_live=timedelta(hours=1))])
    with client.get_queue_receiver(queue) as receiver:
        received = receive(receiver, 2)
        # The queue's default is also the ceiling: a longer TTL is cut down to it.
        assert [m.time_to_live for m in received] == [timedelta(minutes=5)] * 2
        for message in received:
            receiver.complete_message(message)
