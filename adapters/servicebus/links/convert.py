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

from adapters.servicebus.amqp import Message, encoding
from adapters.servicebus.amqp.message import (
    APPLICATION_PROPERTIES,
    HEADER,
    MESSAGE_ANNOTATIONS,
    PROPERTIES,
    encode_application_properties,
)
from adapters.servicebus.amqp.types import Symbol
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


def _key(name: Symbol) -> bytes:
    out = bytearray()
    encoding.encode_symbol(out, name)
    return bytes(out)


_HEADER = bytes((0x00, 0x53, HEADER))
_MESSAGE_ANNOTATIONS = bytes((0x00, 0x53, MESSAGE_ANNOTATIONS))
_PROPERTIES = bytes((0x00, 0x53, PROPERTIES))
_APPLICATION_PROPERTIES = bytes((0x00, 0x53, APPLICATION_PROPERTIES))
_SEQUENCE_NUMBER, _ENQUEUED_TIME, _ENQUEUE_SEQUENCE_NUMBER = map(
    _key, (SEQUENCE_NUMBER, ENQUEUED_TIME, ENQUEUE_SEQUENCE_NUMBER)
)
_MESSAGE_STATE, _LOCKED_UNTIL, _SCHEDULED_ENQUEUE_TIME = map(
    _key, (MESSAGE_STATE, LOCKED_UNTIL, SCHEDULED_ENQUEUE_TIME)
)
_PARTITION_KEY, _DEAD_LETTER_SOURCE = map(_key, (PARTITION_KEY, DEAD_LETTER_SOURCE))
_MAX_TTL_MS = 0xFFFFFFFF
_NULL = 0x40


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _string(out: bytearray, value: str | None) -> None:
    if value is None:
        out.append(_NULL)
    else:
        encoding.encode_string(out, value)


def encode_delivery(message: BrokerMessage, *, locked: bool, peeked: bool = False) -> bytes:
    """The encoded message a receiver gets; ``locked``: delivered under a lock (peek-lock).

    Header (TTL, delivery count), the annotations Service Bus sets, properties and
    application properties are written straight from the broker's fields, then the stored body.
    """
    expires = message.expires_at != NEVER
    out = bytearray(_HEADER)
    fields = bytearray(b"\x41\x50\x04")  # durable, priority 4
    ttl = message.time_to_live
    if ttl is not None and expires and _ms(ttl) <= _MAX_TTL_MS:
        encoding.encode_uint(fields, _ms(ttl))
    else:
        # Longer than a header's uint can hold: the client reads the expiry from the properties.
        fields.append(_NULL)
    fields.append(0x42)  # first-acquirer
    # The AMQP delivery count is the number of earlier attempts; the broker's counts this one.
    encoding.encode_uint(fields, message.delivery_count if peeked else max(0, message.delivery_count - 1))
    encoding.write_compound(out, fields, 5, 0xC0, 0xD0)

    fields = bytearray(_SEQUENCE_NUMBER)
    encoding.encode_long(fields, message.sequence_number)
    fields += _ENQUEUED_TIME
    encoding.encode_timestamp(fields, _ms(message.enqueued_time))
    fields += _ENQUEUE_SEQUENCE_NUMBER
    encoding.encode_long(fields, message.sequence_number)
    count = 3
    if message.state:
        fields += _MESSAGE_STATE
        encoding.encode_long(fields, int(message.state))
        count += 1
    if locked and message.locked_until:
        fields += _LOCKED_UNTIL
        encoding.encode_timestamp(fields, _ms(message.locked_until))
        count += 1
    if message.scheduled_enqueue_time:
        fields += _SCHEDULED_ENQUEUE_TIME
        encoding.encode_timestamp(fields, _ms(message.scheduled_enqueue_time))
        count += 1
    if message.partition_key is not None:
        fields += _PARTITION_KEY
        encoding.encode_string(fields, message.partition_key)
        count += 1
    if message.dead_letter_source is not None:
        fields += _DEAD_LETTER_SOURCE
        encoding.encode_string(fields, message.dead_letter_source)
        count += 1
    out += _MESSAGE_ANNOTATIONS
    encoding.write_compound(out, fields, 2 * count, 0xC1, 0xD1)

    fields = bytearray()
    _string(fields, message.message_id)
    fields.append(_NULL)  # user-id
    _string(fields, message.to)
    _string(fields, message.subject)
    _string(fields, message.reply_to)
    _string(fields, message.correlation_id)
    if message.content_type is None:
        fields.append(_NULL)
    else:
        encoding.encode_symbol(fields, message.content_type)
    fields.append(_NULL)  # content-encoding
    if expires:
        encoding.encode_timestamp(fields, _ms(message.expires_at))
    else:
        fields.append(_NULL)
    encoding.encode_timestamp(fields, _ms(message.enqueued_time))  # creation-time
    count = 10
    if message.reply_to_session_id is not None:
        _string(fields, message.session_id)
        fields.append(_NULL)  # group-sequence
        encoding.encode_string(fields, message.reply_to_session_id)
        count = 13
    elif message.session_id is not None:
        encoding.encode_string(fields, message.session_id)
        count = 11
    out += _PROPERTIES
    encoding.write_compound(out, fields, count, 0xC0, 0xD0)

    if message.application_properties:
        out += _APPLICATION_PROPERTIES
        encode_application_properties(out, message.application_properties)
    out += message.body
    return bytes(out)


def lock_token_of(tag: bytes) -> uuid.UUID | None:
    """The lock token a delivery tag carries (Service Bus sends the token's .NET byte order)."""
    if len(tag) != 16:
        return None
    return uuid.UUID(bytes_le=tag)
