"""AMQP error conditions, and the exceptions that carry them.

``AmqpError`` is both the exception the application raises to refuse something (an
attach, a delivery) and the value of the ``error`` field of detach/end/close and of the
``rejected`` outcome, so a condition travels from the layer above to the wire unchanged.
"""

from __future__ import annotations

from typing import Any

from .types import Symbol

# amqp-error
INTERNAL_ERROR = Symbol("amqp:internal-error")
NOT_FOUND = Symbol("amqp:not-found")
UNAUTHORIZED_ACCESS = Symbol("amqp:unauthorized-access")
DECODE_ERROR = Symbol("amqp:decode-error")
RESOURCE_LIMIT_EXCEEDED = Symbol("amqp:resource-limit-exceeded")
NOT_ALLOWED = Symbol("amqp:not-allowed")
INVALID_FIELD = Symbol("amqp:invalid-field")
NOT_IMPLEMENTED = Symbol("amqp:not-implemented")
RESOURCE_LOCKED = Symbol("amqp:resource-locked")
PRECONDITION_FAILED = Symbol("amqp:precondition-failed")
RESOURCE_DELETED = Symbol("amqp:resource-deleted")
ILLEGAL_STATE = Symbol("amqp:illegal-state")
FRAME_SIZE_TOO_SMALL = Symbol("amqp:frame-size-too-small")
# connection-error
CONNECTION_FORCED = Symbol("amqp:connection:forced")
FRAMING_ERROR = Symbol("amqp:connection:framing-error")
CONNECTION_REDIRECT = Symbol("amqp:connection:redirect")
# session-error
WINDOW_VIOLATION = Symbol("amqp:session:window-violation")
ERRANT_LINK = Symbol("amqp:session:errant-link")
HANDLE_IN_USE = Symbol("amqp:session:handle-in-use")
UNATTACHED_HANDLE = Symbol("amqp:session:unattached-handle")
# link-error
DETACH_FORCED = Symbol("amqp:link:detach-forced")
TRANSFER_LIMIT_EXCEEDED = Symbol("amqp:link:transfer-limit-exceeded")
MESSAGE_SIZE_EXCEEDED = Symbol("amqp:link:message-size-exceeded")
LINK_REDIRECT = Symbol("amqp:link:redirect")
LINK_STOLEN = Symbol("amqp:link:stolen")


class AmqpError(Exception):
    """An AMQP ``error``: a condition symbol, an optional description and info map."""

    def __init__(self, condition: str, description: str | None = None, info: dict[Any, Any] | None = None) -> None:
        super().__init__(f"{condition}: {description}" if description else condition)
        self.condition = Symbol(condition)
        self.description = description
        self.info = info

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AmqpError)
            and self.condition == other.condition
            and self.description == other.description
            and (self.info or None) == (other.info or None)  # an empty info map says nothing more
        )

    def __hash__(self) -> int:
        return hash((self.condition, self.description))

    def __repr__(self) -> str:
        return f"AmqpError({self.condition!r}, {self.description!r}, {self.info!r})"


class DecodeError(ValueError):
    """Bytes that are not valid AMQP: the connection is closed with ``amqp:decode-error``."""


class FramingError(ValueError):
    """A frame header that cannot be honoured (bad size or offset, over max-frame-size)."""
