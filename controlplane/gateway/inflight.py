"""Counts requests in flight so a shutdown can drain them."""

from __future__ import annotations

import asyncio


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self.accepting = True
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> bool:
        """Admit a request; False once draining has begun."""
        if not self.accepting:
            return False
        self.count += 1
        self._idle.clear()
        return True

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Stop admitting and wait for the requests in flight; False if the timeout ran out."""
        self.accepting = False
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
