"""What the rule engine sees of a message: its system properties and its application properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as rules read and rewrite it; never the body (filters cannot see it).

    ``system`` is keyed by the broker-property names of the management API and the .NET
    client (see ``properties.SYSTEM_PROPERTIES``): ``MessageId``, ``CorrelationId``,
    ``SessionId``, ``ReplyTo``, ``ReplyToSessionId``, ``To``, ``Label`` (the AMQP
    ``subject``), ``ContentType``, ``PartitionKey``, ``ViaPartitionKey``, ``TimeToLive``
    (timedelta), ``ScheduledEnqueueTimeUtc``, ``EnqueuedTimeUtc``, ``ExpiresAtUtc``,
    ``LockedUntilUtc`` (datetimes), ``SequenceNumber``, ``EnqueuedSequenceNumber``,
    ``DeliveryCount``, ``Size`` (ints), ``LockToken`` (UUID), ``DeadLetterSource``,
    ``State`` (str), ``ForcePersistence`` (bool). An absent key or None means "not set".

    ``user`` holds the application properties with their sent names (str, bool, int,
    float, Decimal, datetime, timedelta, uuid.UUID, bytes or None); rules look names up
    case-insensitively, as the service does.
    """

    system: Mapping[str, Any] = field(default_factory=dict)
    user: Mapping[str, Any] = field(default_factory=dict)
