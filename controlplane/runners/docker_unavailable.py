"""``--mode docker`` without an engine: every service fails to start, saying why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.runners.base import Runner
from controlplane.runners.engine import EngineUnavailable

if TYPE_CHECKING:
    from controlplane.runtime import ServiceSlot


class UnavailableDockerRunner(Runner):
    mode = "docker"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def start(self, slot: ServiceSlot) -> None:
        raise EngineUnavailable(f"{self.reason} (--mode docker needs one; --mode auto falls back to host mode)")

    async def stop(self, slot: ServiceSlot) -> None:
        return None
