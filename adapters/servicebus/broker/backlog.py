"""Messages ready for delivery, lowest sequence number first, and the receive calls waiting for them.

A receive call that finds nothing waits on a future; when messages arrive they are handed
to the waiting calls directly (locked for them before anyone else can look), so no receiver
polls and none is woken for a message another one takes. Hand-out is deferred to the next
loop iteration, so a batch sent in one call is spread over every waiting receiver at once:
one message to each in turn (fair), up to what each asked for.

The heap holds sequence numbers only; an entry counts while the message it names is still
in the sub-queue with ``ready`` set, so removing a message from the backlog is O(1) and the
stale entry is skipped when it surfaces.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from adapters.servicebus.broker.messages import BrokerMessage


class Taker(Protocol):
    """What a waiting receive call hands its messages to before it resumes."""

    def deliver(self, messages: list[BrokerMessage]) -> None:
        """Lock (or remove) messages that are being handed to this receiver."""

    def release(self, messages: list[BrokerMessage]) -> None:
        """Give back delivered messages that never reached the caller (it was cancelled)."""


class _Waiter:
    __slots__ = ("taker", "max_count", "future", "batch")

    def __init__(self, taker: Taker, max_count: int, future: asyncio.Future[list[BrokerMessage]]) -> None:
        self.taker = taker
        self.max_count = max_count
        self.future = future
        self.batch: list[BrokerMessage] = []


class Backlog:
    __slots__ = ("_messages", "_heap", "_count", "_waiters", "_dispatch_pending")

    def __init__(self, messages: Mapping[int, BrokerMessage]) -> None:
        self._messages = messages
        self._heap: list[int] = []
        self._count = 0
        self._waiters: deque[_Waiter] = deque()
        self._dispatch_pending = False

    def __len__(self) -> int:
        return self._count

    def push(self, message: BrokerMessage) -> None:
        if message.ready:
            return
        message.ready = True
        self._count += 1
        heapq.heappush(self._heap, message.sequence_number)
        if self._waiters:
            self._schedule_dispatch()

    def discard(self, message: BrokerMessage) -> None:
        if message.ready:
            message.ready = False
            self._count -= 1

    def pop(self) -> BrokerMessage | None:
        heap, messages = self._heap, self._messages
        while heap:
            message = messages.get(heapq.heappop(heap))
            if message is not None and message.ready:
                message.ready = False
                self._count -= 1
                return message
        return None

    def take(self, max_count: int) -> list[BrokerMessage]:
        """Up to ``max_count`` ready messages now, unless earlier receive calls are still waiting."""
        if self.waiting():
            return []
        taken: list[BrokerMessage] = []
        while len(taken) < max_count:
            message = self.pop()
            if message is None:
                break
            taken.append(message)
        return taken

    def waiting(self) -> bool:
        waiters = self._waiters
        while waiters and waiters[0].future.done():
            waiters.popleft()
        return bool(waiters)

    async def wait(self, taker: Taker, max_count: int, timeout: float | None) -> list[BrokerMessage]:
        """Wait up to ``timeout`` seconds (None: until closed) for at least one message."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(taker, max_count, loop.create_future())
        self._waiters.append(waiter)
        if self._count:
            self._schedule_dispatch()
        timer = loop.call_later(timeout, _time_out, waiter.future) if timeout is not None else None
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                taker.release(future.result())
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def close(self, taker: Taker | None = None, error: Exception | None = None) -> None:
        """End the waiting calls of one taker (or all): with no messages, or with ``error``."""
        for waiter in self._waiters:
            if (taker is None or waiter.taker is taker) and not waiter.future.done():
                if error is None:
                    waiter.future.set_result([])
                else:
                    waiter.future.set_exception(error)

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_pending:
            self._dispatch_pending = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        waiting = [w for w in self._waiters if not w.future.done()]
        self._waiters.clear()
        hungry = waiting
        while hungry and self._count:
            for waiter in hungry:
                message = self.pop()
                if message is None:
                    break
                waiter.batch.append(message)
            hungry = [w for w in hungry if len(w.batch) < w.max_count]
        for waiter in waiting:
            if waiter.batch:
                waiter.taker.deliver(waiter.batch)
                waiter.future.set_result(waiter.batch)
            else:
                self._waiters.append(waiter)


def _time_out(future: asyncio.Future[list[BrokerMessage]]) -> None:
    if not future.done():
        future.set_result([])
