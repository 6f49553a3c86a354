"""The protocol-independent Service Bus broker: entities, messages, delivery, settlement, durability.

The AMQP layer and the management API drive it through ``Broker`` and its receivers; see
``namespace`` for the durability contract and ``messages`` for the message model.
"""

from adapters.servicebus.broker.errors import (
    BrokerError,
    InvalidEntityDefinition,
    InvalidOperation,
    MessageLockLost,
    MessageNotFound,
    MessageSizeExceeded,
    MessagingEntityAlreadyExists,
    MessagingEntityDisabled,
    MessagingEntityNotFound,
    OperationTimeout,
    QuotaExceeded,
    SessionCannotBeLocked,
    SessionLockLost,
)
from adapters.servicebus.broker.messages import BrokerMessage, MessageState
from adapters.servicebus.broker.namespace import Broker
from adapters.servicebus.broker.receivers import ReceiveMode, Receiver, SessionReceiver
from adapters.servicebus.broker.runtime import EntityRuntime, MessageCounters, PathCounters

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerMessage",
    "EntityRuntime",
    "InvalidEntityDefinition",
    "InvalidOperation",
    "MessageLockLost",
    "MessageCounters",
    "MessageNotFound",
    "MessageSizeExceeded",
    "MessageState",
    "MessagingEntityAlreadyExists",
    "MessagingEntityDisabled",
    "MessagingEntityNotFound",
    "OperationTimeout",
    "PathCounters",
    "QuotaExceeded",
    "ReceiveMode",
    "Receiver",
    "SessionCannotBeLocked",
    "SessionLockLost",
    "SessionReceiver",
]
