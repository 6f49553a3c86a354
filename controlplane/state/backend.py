"""The state-backend interface.

Services keep their working state in memory (they are the only writer) and write
every change through to a backend. A backend is an ordered key-value store split in
namespaces: writes are buffered in call order, and ``flush()`` resolves once every
write made so far is durable. The request pipeline awaits ``flush()`` before it
answers, so an acknowledged write survives ``kill -9`` and concurrent writes share
one commit (group commit).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any


class StateBackend(ABC):
    @abstractmethod
    def load(self, namespace: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every durable (key, value) of a namespace whose key starts with prefix, in key order."""

    @abstractmethod
    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON-able value (made durable by the next flush)."""

    @abstractmethod
    def delete(self, namespace: str, key: str) -> None:
        """Remove a key (made durable by the next flush)."""

    @abstractmethod
    def delete_prefix(self, namespace: str, prefix: str) -> None:
        """Remove every key of a namespace that starts with prefix ('' = the whole namespace)."""

    @abstractmethod
    async def flush(self) -> None:
        """Return once every write made before the call is durable."""

    def flush_now(self) -> bool:
        """Make every write so far durable without waiting, if this backend can; ``False`` when
        only awaiting :meth:`flush` can (a commit that waits for the disk)."""
        return not self.pending

    @property
    def pending(self) -> bool:
        """True while some write is not yet durable."""
        return False

    def close(self) -> None:
        """Flush what is buffered and release resources."""
