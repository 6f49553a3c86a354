"""The event loop LocalZure runs on: asyncio's, whose selector polls a moment before it sleeps.

An SDK settling messages one at a time sends its next request a few hundred microseconds
after our answer. A loop asleep in ``epoll_wait`` meanwhile is woken when it arrives, which
costs tens of microseconds more on a virtual machine, whose idle CPU has to be woken too.
So while events keep coming that soon, :class:`PollingSelector` first polls without
blocking, for a window that adapts like Linux's haltpoll governor for idle virtual CPUs:
it doubles (up to the configured maximum) when the loop, having polled in vain, was woken
less than a millisecond later, and halves each time it sleeps longer, down to none. A busy
process spends at most the window per wake-up; an idle one stops polling after a few sleeps.

Polling takes a CPU that another process may be waiting for: with 4 sender processes and the
server on 2 cores, it cost 5% of the send rate. So it only happens while the kernel reports
that tasks hardly wait for a CPU (Linux's pressure stall information, ``/proc/pressure/cpu``,
sampled every 0.1 s): under 10% of the time. Without that file (macOS, old kernels) the loop
never polls.

On the 2-core VM (paired runs, one sync SDK receiver completing each message), a 200 us
window took the client's wait per settlement from 215 to 172 us, and the rate from 1,700 to
1,916 messages per second; the server spent about 150 us more CPU per message polling.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SOON = 1e-3
"""Woken this soon after polling in vain: a longer window would have caught the event."""
MIN_WINDOW = 25e-6
PRESSURE = Path("/proc/pressure/cpu")
CONTENDED = 0.10
"""The share of time some task waited for a CPU above which the loop does not poll."""
SAMPLE_EVERY = 0.1


class CpuPressure:
    """How much of the recent time some task waited for a CPU (the ``some`` line's total, in
    microseconds, over the time between two readings at least ``SAMPLE_EVERY`` apart)."""

    clock = staticmethod(time.monotonic)

    def __init__(self, path: Path = PRESSURE) -> None:
        self.path = path
        self._total = self._read()
        self._at = self.clock()
        self.share = 0.0 if self._total is not None else 1.0

    def low(self) -> bool:
        now = self.clock()
        if now - self._at >= SAMPLE_EVERY:
            total = self._read()
            if total is None or self._total is None:
                self.share = 1.0
            else:
                self.share = (total - self._total) / 1e6 / (now - self._at)
            self._total, self._at = total, now
        return self.share < CONTENDED

    def _read(self) -> int | None:
        try:
            with self.path.open("rb") as file:
                some = file.readline().split()
        except OSError:
            return None
        field = some[-1] if some and some[0] == b"some" else b""
        return int(field[6:]) if field.startswith(b"total=") and field[6:].isdigit() else None


class PollingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    clock = staticmethod(time.perf_counter)

    def __init__(self, max_window: float, pressure: CpuPressure | None = None) -> None:
        super().__init__()
        self.max_window = max_window
        self.window = 0.0
        """How long the next wait polls before it blocks (seconds)."""
        self.pressure = pressure or CpuPressure()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if not self.max_window or (timeout is not None and timeout <= 0):
            return super().select(timeout)  # the loop's check between callbacks: nothing to adapt
        if not self.window or not self.pressure.low():
            return self._wait(timeout)
        clock = self.clock
        began = clock()
        polled = min(self.window, timeout) if timeout is not None else self.window
        while True:
            events = super().select(0)
            if events:
                return events
            if clock() - began >= polled:
                break
        return self._wait(None if timeout is None else max(0.0, timeout - polled))

    def _wait(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        began = self.clock()
        events = super().select(timeout)
        if self.clock() - began >= SOON:
            half = self.window / 2
            self.window = half if half >= MIN_WINDOW else 0.0
        elif events:
            self.window = min(self.max_window, max(MIN_WINDOW, self.window * 2))
        return events


def run(main: Coroutine[Any, Any, T], poll_window: float) -> T:
    """``asyncio.run(main)`` on a loop whose selector polls for up to ``poll_window`` seconds
    (``0``: never) before it sleeps."""
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(PollingSelector(poll_window))) as runner:
        return runner.run(main)
