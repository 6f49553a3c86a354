"""Broker errors: one class per way an operation is refused, each naming its AMQP condition.

The broker knows no protocol; the AMQP layer sends ``condition`` in its error frames (the
azure-servicebus SDK maps those symbols to its exception classes) and the management API
answers with ``status``. Keeping both here means the two layers map errors the same way.
"""

from __future__ import annotations


class BrokerError(Exception):
    condition: str = "amqp:internal-error"
    status: int = 500
    default_message: str = "The broker failed to process the request."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class MessagingEntityNotFound(BrokerError):
    condition = "amqp:not-found"
    status = 404
    default_message = "The messaging entity could not be found."


class MessagingEntityAlreadyExists(BrokerError):
    condition = "com.microsoft:entity-already-exists"
    status = 409
    default_message = "The messaging entity already exists."


class MessagingEntityDisabled(BrokerError):
    condition = "com.microsoft:entity-disabled"
    status = 400
    default_message = "The messaging entity is disabled for this operation."


class InvalidEntityDefinition(BrokerError):
    """An entity definition the service refuses (a forwarding target that does not exist...)."""

    condition = "com.microsoft:argument-error"
    status = 400
    default_message = "The entity definition is not valid."


class InvalidOperation(BrokerError):
    """An operation the entity does not allow (sending to a subscription, a session-less receiver on
    a session entity...): the service's InvalidOperationException."""

    condition = "amqp:not-allowed"
    status = 400
    default_message = "The operation is not allowed on this entity."


class MessageSizeExceeded(BrokerError):
    condition = "amqp:link:message-size-exceeded"
    status = 413
    default_message = "The message is larger than the entity's maximum message size."


class QuotaExceeded(BrokerError):
    condition = "amqp:resource-limit-exceeded"
    status = 403
    default_message = "The messaging entity has reached its maximum size."


class MessageLockLost(BrokerError):
    condition = "com.microsoft:message-lock-lost"
    status = 410
    default_message = (
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue."
    )


class SessionLockLost(BrokerError):
    condition = "com.microsoft:session-lock-lost"
    status = 410
    default_message = "The session lock has expired on the MessageSession. Accept a new MessageSession."


class SessionCannotBeLocked(BrokerError):
    condition = "com.microsoft:session-cannot-be-locked"
    status = 409
    default_message = "The requested session cannot be accepted. It may be locked by another receiver."


class MessageNotFound(BrokerError):
    condition = "com.microsoft:message-not-found"
    status = 404
    default_message = "Failed to lock one or more specified messages. The message does not exist."


class OperationTimeout(BrokerError):
    condition = "com.microsoft:timeout"
    status = 408
    default_message = "The operation did not complete within the allotted timeout."
