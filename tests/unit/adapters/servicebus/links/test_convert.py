"""A delivered message, encoded from the broker's fields, read back section by section."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from adapters.servicebus.amqp import Message
from adapters.servicebus.broker import BrokerMessage
from adapters.servicebus.broker.messages import MessageState
from adapters.servicebus.links.convert import encode_delivery

NOW = 1_764_170_000.25
BODY = Message(data=b"payload").body_sections


def _message(**fields: object) -> BrokerMessage:
    defaults: dict[str, object] = {
        "body": BODY,
        "sequence_number": 300,
        "enqueued_time": NOW,
        "delivery_count": 2,
        "lock_token": uuid.uuid4(),
        "locked_until": NOW + 60,
    }
    return BrokerMessage(**{**defaults, **fields})  # type: ignore[arg-type]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_every_field_a_receiver_reads() -> None:
    sent = _message(
        message_id="m1",
        correlation_id="c1",
        session_id="s1",
        reply_to="replies",
        reply_to_session_id="r1",
        to="dest",
        subject="subj",
        content_type="application/json",
        partition_key="s1",
        time_to_live=30.5,
        expires_at=NOW + 30.5,
        scheduled_enqueue_time=NOW + 5,
        application_properties={"n": 1, "text": "x"},
        state=MessageState.DEFERRED,
        dead_letter_source="source-queue",
    )
    received = Message.decode(encode_delivery(sent, locked=True))
    header = received.header
    assert (header.durable, header.priority, header.ttl, header.first_acquirer) == (True, 4, 30500, False)
    assert header.delivery_count == 1  # earlier attempts: the broker counts this one too
    assert dict(received.message_annotations or {}) == {
        "x-opt-sequence-number": 300,
        "x-opt-enqueued-time": _at(NOW),
        "x-opt-enqueue-sequence-number": 300,
        "x-opt-message-state": int(MessageState.DEFERRED),
        "x-opt-locked-until": _at(NOW + 60),
        "x-opt-scheduled-enqueue-time": _at(NOW + 5),
        "x-opt-partition-key": "s1",
        "x-opt-deadletter-source": "source-queue",
    }
    properties = received.properties
    assert (properties.message_id, properties.correlation_id, properties.to, properties.subject) == (
        "m1",
        "c1",
        "dest",
        "subj",
    )
    assert (properties.reply_to, properties.group_id, properties.reply_to_group_id) == ("replies", "s1", "r1")
    assert properties.content_type == "application/json"
    assert (properties.creation_time, properties.absolute_expiry_time) == (_at(NOW), _at(NOW + 30.5))
    assert dict(received.application_properties or {}) == {"n": 1, "text": "x"}
    assert received.body == b"payload"


def test_a_bare_message_peeked_and_unlocked() -> None:
    received = Message.decode(encode_delivery(_message(), locked=False, peeked=True))
    assert received.header.ttl is None and received.header.delivery_count == 2  # peeked: every delivery
    assert set(received.message_annotations or {}) == {
        "x-opt-sequence-number",
        "x-opt-enqueued-time",
        "x-opt-enqueue-sequence-number",
    }
    properties = received.properties
    assert properties.message_id is None and properties.group_id is None
    assert properties.absolute_expiry_time is None and properties.creation_time == _at(NOW)
    assert received.application_properties is None and received.body == b"payload"


def test_a_session_without_reply_session_and_a_ttl_past_the_headers_range() -> None:
    ttl = timedelta(days=60).total_seconds()
    received = Message.decode(
        encode_delivery(_message(session_id="s", time_to_live=ttl, expires_at=NOW + ttl), locked=True)
    )
    assert received.header.ttl is None  # 60 days in ms does not fit a uint: the expiry says it
    assert received.properties.absolute_expiry_time == _at(NOW + ttl)
    assert (received.properties.group_id, received.properties.reply_to_group_id) == ("s", None)
