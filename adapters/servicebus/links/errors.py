"""Broker errors as the AMQP errors Service Bus sends (the SDK maps the condition to its exception)."""

from __future__ import annotations

from adapters.servicebus.amqp import AmqpError, Rejected
from adapters.servicebus.broker import BrokerError


def amqp_error(error: BrokerError) -> AmqpError:
    return AmqpError(error.condition, error.message)


def rejected_for(error: AmqpError) -> Rejected:
    return Rejected(error=error)
