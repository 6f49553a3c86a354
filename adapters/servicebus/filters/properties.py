"""Where a property reference finds its value: the ``sys.`` catalogue and the user lookup.

Property names are case-insensitive in rules. System names are resolved once, when a rule
is compiled, to the one key ``MessageView.system`` uses; the names of the current .NET
client (``Subject``, ``ScheduledEnqueueTime``...) are accepted next to the broker-property
names (``Label``, ``ScheduledEnqueueTimeUtc``...) because the documentation tells users to
write either. User names can only be matched per message, since the sender chose them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.servicebus.filters.errors import FilterEvaluationError
from adapters.servicebus.filters.message import MessageView


@dataclass(frozen=True, slots=True)
class SystemProperty:
    key: str
    """The key in ``MessageView.system``."""
    kind: type
    """What a rule action may store in it (a ``SET`` of another type fails)."""
    writable: bool
    """Whether ``SET``/``REMOVE`` may change it: the broker owns the rest."""


def _catalogue() -> dict[str, SystemProperty]:
    entries = [
        (SystemProperty("MessageId", str, True), ()),
        (SystemProperty("CorrelationId", str, True), ()),
        (SystemProperty("SessionId", str, True), ()),
        (SystemProperty("ReplyTo", str, True), ()),
        (SystemProperty("ReplyToSessionId", str, True), ()),
        (SystemProperty("To", str, True), ()),
        (SystemProperty("Label", str, True), ("Subject",)),
        (SystemProperty("ContentType", str, True), ()),
        (SystemProperty("PartitionKey", str, True), ()),
        (SystemProperty("ViaPartitionKey", str, True), ("TransactionPartitionKey",)),
        (SystemProperty("TimeToLive", timedelta, True), ()),
        (SystemProperty("ScheduledEnqueueTimeUtc", datetime, True), ("ScheduledEnqueueTime",)),
        (SystemProperty("ForcePersistence", bool, True), ()),
        (SystemProperty("EnqueuedTimeUtc", datetime, False), ("EnqueuedTime",)),
        (SystemProperty("ExpiresAtUtc", datetime, False), ("ExpiresAt",)),
        (SystemProperty("LockedUntilUtc", datetime, False), ("LockedUntil",)),
        (SystemProperty("LockToken", uuid.UUID, False), ()),
        (SystemProperty("SequenceNumber", int, False), ()),
        (SystemProperty("EnqueuedSequenceNumber", int, False), ()),
        (SystemProperty("DeliveryCount", int, False), ()),
        (SystemProperty("Size", int, False), ()),
        (SystemProperty("DeadLetterSource", str, False), ()),
        (SystemProperty("State", str, False), ()),
    ]
    catalogue: dict[str, SystemProperty] = {}
    for prop, aliases in entries:
        for name in (prop.key, *aliases):
            catalogue[name.lower()] = prop
    return catalogue


SYSTEM_PROPERTIES = _catalogue()
"""Lower-cased ``sys.`` name (or alias) -> the property it means."""


def system_property(name: str) -> SystemProperty | None:
    return SYSTEM_PROPERTIES.get(name.lower())


_MISSING = object()


def user_key(user: Mapping[str, Any], name: str, lowered: str) -> str | None:
    """The key under which ``user`` holds ``name`` (exact spelling first), or None."""
    if name in user:
        return name
    for key in user:
        if key.lower() == lowered:
            return key
    return None


def user_reader(name: str) -> Callable[[MessageView], Any]:
    """A function reading the application property ``name`` of a message (None when absent)."""
    lowered = name.lower()

    def read(message: MessageView) -> Any:
        user = message.user
        value = user.get(name, _MISSING)
        if value is not _MISSING:
            return value
        for key, value in user.items():
            if key.lower() == lowered:
                return value
        return None

    return read


def unknown_system_property(name: str) -> FilterEvaluationError:
    # The service compiles the rule without checking sys. names and fails on each message.
    return FilterEvaluationError(f"The system property 'sys.{name}' does not exist.")
