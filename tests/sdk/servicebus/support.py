"""Helpers shared by the Service Bus SDK tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiver
from azure.servicebus.management import QueueProperties, TopicProperties

QueueFactory = Callable[..., QueueProperties]
TopicFactory = Callable[..., TopicProperties]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def receive(
    receiver: ServiceBusReceiver, count: int, timeout: float = 10.0, **kwargs: Any
) -> list[ServiceBusReceivedMessage]:
    """Exactly ``count`` messages (fewer only if ``timeout`` seconds pass), however the service batches them."""
    received: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + timeout
    while len(received) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        received += receiver.receive_messages(max_message_count=count - len(received), max_wait_time=left, **kwargs)
    return received
