"""Sessions: accepting a named or the next available session, order within a session, state,
session lock renewal and loss, and a session another receiver holds (links/application.py,
links/management.py, broker/sessions.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import (
    OperationTimeoutError,
    ServiceBusError,
    SessionCannotBeLockedError,
    SessionLockLostError,
)

from tests.sdk.servicebus.support import QueueFactory, receive


@pytest.fixture
def session_queue(new_queue: QueueFactory) -> str:
    return new_queue(requires_session=True, lock_duration=timedelta(seconds=5)).name


def _send_interleaved(client: ServiceBusClient, queue: str, sessions: list[str], per_session: int) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(
            [ServiceBusMessage(f"{s}-{i}", session_id=s) for i in range(per_session) for s in sessions]
        )


def test_a_named_session_gets_only_its_messages_in_order(client: ServiceBusClient, session_queue: str) -> None:
    _send_interleaved(client, session_queue, ["a", "b", "c"], 4)
    with client.get_queue_receiver(session_queue, session_id="b") as receiver:
        assert receiver.session.session_id == "b"
        received = receive(receiver, 4)
        assert [str(m) for m in received] == ["b-0", "b-1", "b-2", "b-3"]
        assert all(m.session_id == "b" for m in received)
        for message in received:
            receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []


def test_next_available_session_takes_each_session_once(client: ServiceBusClient, session_queue: str) -> None:
    _send_interleaved(client, session_queue, ["x", "y"], 3)
    seen = []
    for _ in range(2):
        with client.get_queue_receiver(session_queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=5) as receiver:
            session_id = receiver.session.session_id
            received = receive(receiver, 3)
            assert [str(m) for m in received] == [f"{session_id}-{i}" for i in range(3)]
            for message in received:
                receiver.complete_message(message)
            seen.append(session_id)
    assert sorted(seen) == ["x", "y"]


def test_no_session_available_times_out(connection_string: str, session_queue: str) -> None:
    with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
        started = time.monotonic()
        # The SDK accepts the session when the receiver opens: that is where the wait ends.
        with (
            pytest.raises(OperationTimeoutError),
            client.get_queue_receiver(session_queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1) as receiver,
        ):
            receiver.receive_messages(max_wait_time=1)
        assert time.monotonic() - started < 5


def test_session_state_outlives_the_receiver(client: ServiceBusClient, session_queue: str) -> None:
    _send_interleaved(client, session_queue, ["stateful"], 1)
    with client.get_queue_receiver(session_queue, session_id="stateful") as receiver:
        assert receiver.session.get_state() is None
        receiver.session.set_state(b"step-1")
        assert receiver.session.get_state() == b"step-1"
        receiver.session.set_state("step-2")  # the SDK encodes text as UTF-8
        [message] = receive(receiver, 1)
        receiver.complete_message(message)
    with client.get_queue_receiver(session_queue, session_id="stateful") as receiver:
        assert receiver.session.get_state() == b"step-2"
        receiver.session.set_state(None)
        assert receiver.session.get_state() is None


def test_renew_session_lock(client: ServiceBusClient, session_queue: str) -> None:
    _send_interleaved(client, session_queue, ["renewed"], 1)
    with client.get_queue_receiver(session_queue, session_id="renewed") as receiver:
        [message] = receive(receiver, 1)
        first = receiver.session.locked_until_utc
        assert first is not None
        time.sleep(3)
        renewed = receiver.session.renew_lock()
        assert renewed > first + timedelta(seconds=2)
        assert receiver.session.locked_until_utc == renewed
        time.sleep(3)  # past the first expiry (5 s), within the renewed lock
        receiver.complete_message(message)


def test_a_held_session_cannot_be_accepted_again(
    client: ServiceBusClient, session_queue: str, connection_string: str
) -> None:
    _send_interleaved(client, session_queue, ["held"], 2)
    with client.get_queue_receiver(session_queue, session_id="held") as holder:
        [first] = receive(holder, 1)
        # Without retries: the SDK retries this, and would get the session once the holder's 5 s lock ends.
        with (
            ServiceBusClient.from_connection_string(connection_string, retry_total=0) as other,
            pytest.raises(SessionCannotBeLockedError),
            other.get_queue_receiver(session_queue, session_id="held") as intruder,
        ):
            intruder.receive_messages(max_wait_time=1)
        holder.complete_message(first)
    # Once released, the session can be accepted, and what the holder did not settle is there.
    with client.get_queue_receiver(session_queue, session_id="held") as receiver:
        [second] = receive(receiver, 1)
        assert str(second) == "held-1"
        receiver.complete_message(second)


def test_closing_a_session_receiver_releases_its_unsettled_messages(
    client: ServiceBusClient, session_queue: str
) -> None:
    _send_interleaved(client, session_queue, ["released"], 2)
    with client.get_queue_receiver(session_queue, session_id="released") as receiver:
        received = receive(receiver, 2)
        receiver.complete_message(received[1])
    with client.get_queue_receiver(session_queue, session_id="released") as receiver:
        [again] = receive(receiver, 1)
        assert (str(again), again.delivery_count) == ("released-0", 1)
        receiver.complete_message(again)


def test_an_expired_session_lock_is_lost(client: ServiceBusClient, session_queue: str) -> None:
    _send_interleaved(client, session_queue, ["expiring"], 1)
    with client.get_queue_receiver(session_queue, session_id="expiring") as receiver:
        [message] = receive(receiver, 1)
        time.sleep(6)  # the 5 s session lock ends
        with pytest.raises(SessionLockLostError):
            receiver.complete_message(message)
    with client.get_queue_receiver(session_queue, session_id="expiring") as receiver:
        [again] = receive(receiver, 1)
        assert (str(again), again.delivery_count) == ("expiring-0", 1)
        receiver.complete_message(again)


def test_a_message_without_session_id_is_refused(connection_string: str, session_queue: str) -> None:
    with (
        ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client,
        client.get_queue_sender(session_queue) as sender,
        pytest.raises(ServiceBusError),
    ):
        sender.send_messages(ServiceBusMessage("no session"))
