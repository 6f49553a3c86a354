"""Runtime figures: per-entity message counts (what the management API reports) and broker-wide counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class EntityRuntime:
    """The runtime properties of a queue, topic or subscription, as the SDK's ``*RuntimeProperties`` name them.

    Transfer counts stay 0: auto-forwarding here moves a message at once, so nothing ever
    waits in a transfer queue.
    """

    name: str
    created_at: datetime
    updated_at: datetime
    accessed_at: datetime
    active_message_count: int = 0
    """Includes locked and deferred messages, as in the service."""
    dead_letter_message_count: int = 0
    scheduled_message_count: int = 0
    transfer_message_count: int = 0
    transfer_dead_letter_message_count: int = 0
    total_message_count: int = 0
    size_in_bytes: int = 0
    subscription_count: int = 0
    """Topics only."""


@dataclass
class BrokerMetrics:
    """Counters for the metrics endpoint, since the broker started."""

    messages_in: int = 0
    """Messages accepted by a send (duplicates that were dropped included: the sender was told yes)."""
    messages_out: int = 0
    """Messages completed, or received in receive-and-delete mode."""
    dead_lettered: int = 0
    lock_losses: int = 0
    """Message and session locks that expired before their holder settled or renewed them."""
