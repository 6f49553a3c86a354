"""AMQP messages to broker messages and back.

A received message keeps its encoded body sections as they came (the broker stores them
unread); a delivered one is rebuilt from the broker's fields: header (TTL, delivery count),
the annotations Service Bus sets (``x-opt-sequence-number``, ``x-opt-enqueued-time``,
``x-opt-locked-until``...), properties, application properties, then the stored body.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from adapters.servicebus.amqp import Header, Message, Properties
from adapters.servicebus.amqp.types import Long, Symbol
from adapters.servicebus.broker import BrokerMessage
from adapters.servicebus.broker.messages import NEVER

SCHEDULED_ENQUEUE_TIME = Symbol("x-opt-scheduled-enqueue-time")
PARTITION_KEY = Symbol("x-opt-partition-key")
VIA_PARTITION_KEY = Symbol("x-opt-via-partition-key")
SEQUENCE_NUMBER = Symbol("x-opt-sequence-number")
ENQUEUED_TIME = Symbol("x-opt-enqueued-time")
ENQUEUE_SEQUENCE_NUMBER = Symbol("x-opt-enqueue-sequence-number")
LOCKED_UNTIL = Symbol("x-opt-locked-until")
MESSAGE_STATE = Symbol("x-opt-message-state")
DEAD_LETTER_SOURCE = Symbol("x-opt-deadletter-source")


def text(value: Any) -> str | None:
    """Message and correlation ids may be any AMQP id type; the broker keeps their text."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return value / 1000
    return None


def to_broker(message: Message) -> BrokerMessage:
    """The broker's message for what a client sent."""
    properties = message.properties
    annotations = message.message_annotations or {}
    header = message.header
    result = BrokerMessage(
        body=message.body_sections,
        application_properties=dict(message.application_properties or {}),
    )
    if properties is not None:
        result.message_id = text(properties.message_id)
        result.correlation_id = text(properties.correlation_id)
        result.session_id = properties.group_id
        result.reply_to = properties.reply_to
        result.reply_to_session_id = properties.reply_to_group_id
        result.to = properties.to
        result.subject = properties.subject
        result.content_type = properties.content_type
    if header is not None and header.ttl:
        result.time_to_live = header.ttl / 1000
    scheduled = _seconds(annotations.get(SCHEDULED_ENQUEUE_TIME))
    if scheduled is not None and scheduled > 0:
        result.scheduled_enqueue_time = scheduled
    partition_key = annotations.get(PARTITION_KEY)
    if partition_key is not None:
        result.partition_key = str(partition_key)
    result.size = len(result.body) + sum(len(k) + 8 for k in result.application_properties)
    return result


def timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_amqp(message: BrokerMessage, *, locked: bool, peeked: bool = False) -> Message:
    """The message as a receiver gets it; ``locked``: delivered under a lock (peek-lock)."""
    annotations: dict[Any, Any] = {
        SEQUENCE_NUMBER: Long(message.sequence_number),
        ENQUEUED_TIME: timestamp(message.enqueued_time),
        ENQUEUE_SEQUENCE_NUMBER: Long(message.sequence_number),
    }
    if message.state:
        annotations[MESSAGE_STATE] = Long(int(message.state))
    if locked and message.locked_until:
        annotations[LOCKED_UNTIL] = timestamp(message.locked_until)
    if message.scheduled_enqueue_time:
        annotations[SCHEDULED_ENQUEUE_TIME] = timestamp(message.scheduled_enqueue_time)
    if message.partition_key is not None:
        annotations[PARTITION_KEY] = message.partition_key
    if message.dead_letter_source is not None:
        annotations[DEAD_LETTER_SOURCE] = message.dead_letter_source
    # The AMQP delivery count is the number of earlier attempts; the broker's counts this one.
    prior = message.delivery_count if peeked else max(0, message.delivery_count - 1)
    ttl = message.time_to_live
    header = Header(
        durable=True,
        delivery_count=prior,
        ttl=int(ttl * 1000) if ttl is not None and message.expires_at != NEVER else None,
    )
    properties = Properties(
        message_id=message.message_id,
        to=message.to,
        subject=message.subject,
        reply_to=message.reply_to,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        group_id=message.session_id,
        reply_to_group_id=message.reply_to_session_id,
        absolute_expiry_time=timestamp(message.expires_at) if message.expires_at != NEVER else None,
        creation_time=timestamp(message.enqueued_time),
    )
    return Message.with_body_sections(
        message.body,
        header=header,
        message_annotations=annotations,
        properties=properties,
        application_properties=message.application_properties or None,
    )


def lock_token_of(tag: bytes) -> uuid.UUID | None:
    """The lock token a delivery tag carries (Service Bus sends the token's .NET byte order)."""
    if len(tag) != 16:
        return None
    return uuid.UUID(bytes_le=tag)
