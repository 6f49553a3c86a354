"""The broker's message: what a sender set, what the broker assigned, and how it is stored.

The body is opaque: the AMQP layer hands over the encoded body sections and gets the same
bytes back, so the broker never decodes a payload. Times are POSIX seconds (floats) and
durations seconds, the cheapest form to compare on every delivery; the AMQP layer turns
them into AMQP timestamps and the rule engine's view into datetimes.
"""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from adapters.servicebus.broker.values import decode_mapping, encode_mapping
from adapters.servicebus.entities import MAX_TIMESPAN

if TYPE_CHECKING:
    from adapters.servicebus.broker.subqueue import SubQueue

NEVER = math.inf
"""The expiry of a message whose time to live is unbounded."""

UNBOUNDED_TTL = MAX_TIMESPAN.total_seconds()
"""A time to live this long (``TimeSpan.MaxValue``, the default) means the message never expires."""

DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"
"""Application properties the service sets on a dead-lettered message (the SDK reads them there)."""


def expiry(enqueued_time: float, time_to_live: float | None) -> float:
    # Within a second of TimeSpan.MaxValue: the same "never", however a client rounded it.
    if time_to_live is None or time_to_live >= UNBOUNDED_TTL - 1:
        return NEVER
    return enqueued_time + time_to_live


class MessageState(IntEnum):
    """The values of the ``x-opt-message-state`` annotation."""

    ACTIVE = 0
    DEFERRED = 1
    SCHEDULED = 2


# System properties a sender sets, with their short keys in the stored record.
_TEXT_FIELDS = (
    ("message_id", "mid"),
    ("correlation_id", "cid"),
    ("session_id", "sid"),
    ("reply_to", "rt"),
    ("reply_to_session_id", "rts"),
    ("to", "to"),
    ("subject", "sub"),
    ("content_type", "ct"),
    ("partition_key", "pk"),
)
_SENDER_FIELDS = (*_TEXT_FIELDS, ("time_to_live", "ttl"), ("scheduled_enqueue_time", "se"))


@dataclass(slots=True, kw_only=True, eq=False)
class BrokerMessage:
    body: bytes = b""
    """The encoded AMQP body sections, exactly as received."""
    message_id: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    subject: str | None = None
    content_type: str | None = None
    partition_key: str | None = None
    time_to_live: float | None = None
    """Seconds; set by the broker to min(sent TTL, the entity's default) on arrival."""
    scheduled_enqueue_time: float | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)

    # Assigned by the broker.
    sequence_number: int = 0
    enqueued_time: float = 0.0
    expires_at: float = NEVER
    delivery_count: int = 0
    lock_token: uuid.UUID | None = None
    locked_until: float = 0.0
    state: MessageState = MessageState.ACTIVE
    dead_letter_source: str | None = None
    """Set only when a dead-lettered message was auto-forwarded: the entity it was dead-lettered in."""
    size: int = 0

    # Bookkeeping, never seen by a client.
    transfer_hops: int = field(default=0, repr=False)
    """How many auto-forwarding hops the message has made (the service stops at 4)."""
    ready: bool = field(default=False, repr=False)
    """True while the message waits in a backlog for a receiver."""
    home: SubQueue | None = field(default=None, repr=False)
    """The sub-queue that holds the message; a timer for it is stale once this changes."""

    @property
    def dead_letter_reason(self) -> str | None:
        return self.application_properties.get(DEAD_LETTER_REASON)

    @property
    def dead_letter_error_description(self) -> str | None:
        return self.application_properties.get(DEAD_LETTER_DESCRIPTION)

    def estimate_size(self) -> int:
        """The body plus the properties' text: what the size limits and runtime sizes count."""
        size = len(self.body)
        for name, _ in _TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                size += len(value)
        for key, value in self.application_properties.items():
            size += len(key) + (len(value) if isinstance(value, str | bytes) else 8)
        return size

    def copy(self) -> BrokerMessage:
        """A fresh copy for one subscription: same identity and sequence number, its own properties."""
        return BrokerMessage(
            body=self.body,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
            session_id=self.session_id,
            reply_to=self.reply_to,
            reply_to_session_id=self.reply_to_session_id,
            to=self.to,
            subject=self.subject,
            content_type=self.content_type,
            partition_key=self.partition_key,
            time_to_live=self.time_to_live,
            scheduled_enqueue_time=self.scheduled_enqueue_time,
            application_properties=dict(self.application_properties),
            sequence_number=self.sequence_number,
            enqueued_time=self.enqueued_time,
            size=self.size,
            transfer_hops=self.transfer_hops,
        )

    def record(self) -> dict[str, Any]:
        """The JSON-able form written to the state backend (short keys, defaults left out)."""
        record: dict[str, Any] = {
            "b": base64.b64encode(self.body).decode(),
            "seq": self.sequence_number,
            "et": self.enqueued_time,
            "sz": self.size,
        }
        for name, key in _SENDER_FIELDS:
            value = getattr(self, name)
            if value is not None:
                record[key] = value
        if self.application_properties:
            record["ap"] = encode_mapping(self.application_properties)
        if self.expires_at != NEVER:
            record["x"] = self.expires_at
        if self.delivery_count:
            record["dc"] = self.delivery_count
        if self.state:
            record["st"] = int(self.state)
        if self.dead_letter_source is not None:
            record["dls"] = self.dead_letter_source
        if self.transfer_hops:
            record["h"] = self.transfer_hops
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BrokerMessage:
        message = cls(
            body=base64.b64decode(record["b"]),
            application_properties=decode_mapping(record.get("ap", {})),
            sequence_number=record["seq"],
            enqueued_time=record["et"],
            size=record["sz"],
            expires_at=record.get("x", NEVER),
            delivery_count=record.get("dc", 0),
            state=MessageState(record.get("st", 0)),
            dead_letter_source=record.get("dls"),
            transfer_hops=record.get("h", 0),
        )
        for name, key in _SENDER_FIELDS:
            if key in record:
                setattr(message, name, record[key])
        return message
