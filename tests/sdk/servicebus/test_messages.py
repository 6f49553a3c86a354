"""Every property a sender sets comes back to the receiver as it was sent (links/convert.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage

from tests.sdk.servicebus.support import QueueFactory, receive

APPLICATION_PROPERTIES: dict[str, Any] = {
    "text": "héllo",
    "count": 42,
    "negative": -7,
    "ratio": 0.25,
    "flag": True,
    "off": False,
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


def _message(index: int, scheduled: datetime) -> ServiceBusMessage:
    return ServiceBusMessage(
        f"body {index}",
        application_properties={**APPLICATION_PROPERTIES, "index": index},
        message_id=f"mid-{index}",
        correlation_id=f"cid-{index}",
        session_id=f"sid-{index}",
        partition_key=f"sid-{index}",  # the SDK insists it equals the session id when both are set
        reply_to="replies",
        reply_to_session_id=f"reply-session-{index}",
        to=f"destination-{index}",
        subject=f"subject-{index}",
        content_type="text/plain",
        time_to_live=timedelta(minutes=30 + index),
        scheduled_enqueue_time_utc=scheduled,
    )


def _assert_round_trip(received: ServiceBusReceivedMessage, index: int, scheduled: datetime) -> None:
    assert str(received) == f"body {index}"
    assert received.message_id == f"mid-{index}"
    assert received.correlation_id == f"cid-{index}"
    assert received.session_id == f"sid-{index}"
    assert received.partition_key == f"sid-{index}"
    assert received.reply_to == "replies"
    assert received.reply_to_session_id == f"reply-session-{index}"
    assert received.to == f"destination-{index}"
    assert received.subject == f"subject-{index}"
    assert received.content_type == "text/plain"
    assert received.time_to_live == timedelta(minutes=30 + index)
    assert received.scheduled_enqueue_time_utc == scheduled
    assert received.sequence_number is not None and received.sequence_number > 0
    assert received.enqueued_time_utc is not None
    assert received.expires_at_utc == received.enqueued_time_utc + timedelta(minutes=30 + index)
    # The SDK's AMQP decoder hands strings (keys and values) back as UTF-8 bytes.
    properties = {_text(k): _text(v) for k, v in received.application_properties.items()}
    expected = {**APPLICATION_PROPERTIES, "index": index}
    assert properties == expected


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _scheduled_soon() -> datetime:
    # Whole milliseconds: AMQP timestamps carry no finer precision.
    now = datetime.now(UTC) + timedelta(seconds=1)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def test_single_messages_keep_every_property(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    name = new_queue().name
    scheduled = _scheduled_soon()
    with client.get_queue_sender(name) as sender:
        for index in range(3):
            sender.send_messages(_message(index, scheduled))
    with client.get_queue_receiver(name) as receiver:
        received = receive(receiver, 3)
        assert [m.message_id for m in received] == [f"mid-{i}" for i in range(3)]
        for index, message in enumerate(received):
            _assert_round_trip(message, index, scheduled)
            assert message.delivery_count == 0
            receiver.complete_message(message)


def test_batched_messages_keep_every_property(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    name = new_queue().name
    scheduled = _scheduled_soon()
    with client.get_queue_sender(name) as sender:
        batch = sender.create_message_batch()
        for index in range(5):
            batch.add_message(_message(index, scheduled))
        sender.send_messages(batch)
    with client.get_queue_receiver(name) as receiver:
        received = receive(receiver, 5)
        assert [m.message_id for m in received] == [f"mid-{i}" for i in range(5)]
        sequence_numbers = [m.sequence_number for m in received]
        assert sequence_numbers == sorted(sequence_numbers) and len(set(sequence_numbers)) == 5
        for index, message in enumerate(received):
            _assert_round_trip(message, index, scheduled)
            receiver.complete_message(message)


def test_a_list_of_messages_and_binary_bodies(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    name = new_queue().name
    payloads = [bytes(range(256)), b"", "text ünïcode".encode()]
    with client.get_queue_sender(name) as sender:
        sender.send_messages([ServiceBusMessage(p) for p in payloads])
    with client.get_queue_receiver(name) as receiver:
        received = receive(receiver, 3)
        assert [b"".join(m.body) for m in received] == payloads
        for message in received:
            receiver.complete_message(message)


def test_a_time_to_live_longer_than_the_header_holds(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    """AMQP's header carries a TTL in a 32-bit count of milliseconds (49.7 days): a longer one
    (here the queue's 60-day default) leaves it out, and the expiry travels in the properties."""
    name = new_queue(default_message_time_to_live=timedelta(days=60)).name
    with client.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("long-lived"))
    with client.get_queue_receiver(name) as receiver:
        [received] = receive(receiver, 1)
        assert str(received) == "long-lived"
        assert received.time_to_live is None
        properties = received.raw_amqp_message.properties
        assert properties.absolute_expiry_time - properties.creation_time == timedelta(days=60) / timedelta(
            milliseconds=1
        )
        receiver.complete_message(received)
