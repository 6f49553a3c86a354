"""Every deadline the broker keeps (lock expiry, TTL, scheduled activation, session locks) in one heap.

One task sleeps until the earliest deadline, so a lock expires when it should and wakes the
receivers waiting for that message, without scanning entities on an interval (which is why
``controlplane.periodic.Periodic`` does not fit). Entries are never removed: each action
checks on firing whether it still applies (a renewed lock, a completed message) and does
nothing otherwise, which keeps a renewal or a completion O(log n).

``run_due()`` is also called at the start of every receive and settlement, so with an
injected clock the broker behaves the same whether or not the task has woken yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Upper bound on one sleep, so a clock that jumps (or a test's fake clock) is noticed.
_MAX_SLEEP = 1.0

Action = Callable[[Any, float], None]


class Timers:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Action, Any]] = []
        self._order = itertools.count()
        self._wakeup: asyncio.Future[None] | None = None
        """What the task sleeps on: resolved by its timer, or early by a nearer deadline."""
        self._task: asyncio.Task[None] | None = None

    def at(self, due: float, action: Action, subject: Any) -> None:
        """Call ``action(subject, now)`` once the clock reaches ``due``."""
        earliest = not self._heap or due < self._heap[0][0]
        heapq.heappush(self._heap, (due, next(self._order), action, subject))
        if earliest:
            _wake(self._wakeup)

    def run_due(self) -> None:
        now = self.clock()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, action, subject = heapq.heappop(heap)
            try:
                action(subject, now)
            except Exception:  # one failing deadline must not stop the others
                log.exception("broker timer action failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="servicebus-broker-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.run_due()
            delay = _MAX_SLEEP
            if self._heap:
                delay = min(max(self._heap[0][0] - self.clock(), 0.0), _MAX_SLEEP)
            self._wakeup = loop.create_future()
            handle = loop.call_later(delay, _wake, self._wakeup)
            try:
                await self._wakeup
            finally:
                handle.cancel()
                self._wakeup = None


def _wake(wakeup: asyncio.Future[None] | None) -> None:
    if wakeup is not None and not wakeup.done():
        wakeup.set_result(None)
