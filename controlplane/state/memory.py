"""Memory persistence: nothing survives the process; services hold the state themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controlplane.state.backend import StateBackend


class MemoryBackend(StateBackend):
    def load(self, namespace: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        return iter(())

    def put(self, namespace: str, key: str, value: Any) -> None:
        pass

    def delete(self, namespace: str, key: str) -> None:
        pass

    def delete_prefix(self, namespace: str, prefix: str) -> None:
        pass

    async def flush(self) -> None:
        pass
