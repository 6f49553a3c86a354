"""Delivery states (part 3.4): what became of a delivery, sent in transfer and disposition.

``Accepted``, ``Rejected``, ``Released`` and ``Modified`` are terminal outcomes;
``Received`` only reports progress. Service Bus maps its settlements onto them:
complete = accepted, abandon = modified(delivery-failed), defer =
modified(delivery-failed, undeliverable-here), dead-letter = rejected(error).
"""

from __future__ import annotations

from typing import Any

from .composite import BOOLEAN, ERROR, FIELDS, UINT, ULONG, Composite, Field
from .errors import AmqpError


class Received(Composite):
    DESCRIPTOR = 0x23
    NAME = "amqp:received:list"
    FIELDS = (Field("section_number", UINT), Field("section_offset", ULONG))
    section_number: int
    section_offset: int


class Accepted(Composite):
    DESCRIPTOR = 0x24
    NAME = "amqp:accepted:list"


def _encode_rejection(out: bytearray, error: AmqpError) -> None:
    """A rejected outcome's error always carries its info map, as Service Bus sends it: the
    Python SDK reads the third field unconditionally and never completes a send without it."""
    if error.info is None:
        error = AmqpError(error.condition, error.description, {})
    ERROR(out, error)


class Rejected(Composite):
    DESCRIPTOR = 0x25
    NAME = "amqp:rejected:list"
    FIELDS = (Field("error", _encode_rejection),)
    error: AmqpError | None


class Released(Composite):
    DESCRIPTOR = 0x26
    NAME = "amqp:released:list"


class Modified(Composite):
    DESCRIPTOR = 0x27
    NAME = "amqp:modified:list"
    FIELDS = (
        Field("delivery_failed", BOOLEAN),
        Field("undeliverable_here", BOOLEAN),
        Field("message_annotations", FIELDS),
    )
    delivery_failed: bool | None
    undeliverable_here: bool | None
    message_annotations: dict[str, Any] | None


DeliveryState = Received | Accepted | Rejected | Released | Modified


def rejected(condition: str, description: str | None = None, info: dict[Any, Any] | None = None) -> Rejected:
    """The rejected outcome carrying an error, e.g. ``rejected("com.microsoft:message-lock-lost", "...")``."""
    return Rejected(error=AmqpError(condition, description, info))
