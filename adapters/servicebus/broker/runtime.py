"""Runtime figures: per-entity message counts (what the management API reports) and per-path counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


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


CLIENT_DEAD_LETTER = "client"
"""The reason a receiver's dead-lettering is counted under: its own reason is free text, and a
label per distinct text would grow without bound."""


@dataclass(slots=True)
class MessageCounters:
    """What happened to the messages of one path since the broker started (for the metrics).

    Plain integers bumped on the hot path: the event loop is the only writer, and a scrape
    reads whatever value is there.
    """

    sent: int = 0
    """Messages accepted by a send (duplicates that were dropped included: the sender was told yes)."""
    delivered: int = 0
    """Messages handed to a receiver: every peek-lock delivery (redeliveries included) and every
    receive-and-delete."""
    completed: int = 0
    """Messages consumed: completed under a peek-lock, or received in receive-and-delete mode."""
    lock_lost: int = 0
    """Message and session locks that expired before their holder settled or renewed them."""
    dead_lettered: dict[str, int] = field(default_factory=dict)
    """By the broker's dead-letter reason, or ``CLIENT_DEAD_LETTER`` when a receiver asked."""

    def dead_letter(self, reason: str) -> None:
        self.dead_lettered[reason] = self.dead_lettered.get(reason, 0) + 1


class PathCounters(NamedTuple):
    path: str
    counters: MessageCounters
    sendable: bool
    """A queue or topic: clients send to it."""
    receivable: bool
    """A queue, subscription or dead-letter queue: clients receive from it."""
