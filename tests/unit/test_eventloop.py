"""The polling selector: it polls only while events keep coming soon, catches an event that arrives
while it polls, never overshoots a timer, and ``run`` serves a coroutine on it."""

from __future__ import annotations

import asyncio
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable

from controlplane import eventloop
from controlplane.eventloop import MIN_WINDOW, PollingSelector


def readable(max_window: float) -> tuple[PollingSelector, socket.socket, socket.socket]:
    selector = PollingSelector(max_window)
    ours, theirs = socket.socketpair()
    selector.register(ours, selectors.EVENT_READ)
    return selector, ours, theirs


def request_after_first_poll(theirs: socket.socket) -> Callable[[], float]:
    """A clock 0.1 ms later at each reading, whose second reading (the first poll's check) has the
    client's next request arrive: the poll misses it, the wait that follows has it at once."""
    readings = itertools.count(1)

    def clock() -> float:
        reading = next(readings)
        if reading == 2:
            theirs.send(b"x")
        return reading * 100e-6

    return clock


def test_an_event_soon_after_polling_in_vain_widens_the_window_and_long_sleeps_close_it() -> None:
    selector, ours, theirs = readable(200e-6)
    theirs.send(b"x")
    assert selector.select(1.0)  # woken at once: soon
    assert selector.window == MIN_WINDOW
    ours.recv(1)
    widths = []
    for _ in range(5):
        selector.clock = request_after_first_poll(theirs)
        assert selector.select(1.0)
        ours.recv(1)
        widths.append(selector.window)
    assert widths == [2 * MIN_WINDOW, 4 * MIN_WINDOW, 8 * MIN_WINDOW, 200e-6, 200e-6]  # capped
    selector.clock = time.perf_counter
    widths = []
    for _ in range(5):
        assert selector.select(0.01) == []  # slept 10 ms: the requests stopped
        widths.append(selector.window)
    assert widths == [100e-6, 50e-6, MIN_WINDOW, 0, 0]
    selector.close()


def test_an_event_arriving_while_it_polls_is_caught_without_sleeping() -> None:
    selector, ours, theirs = readable(0.5)
    selector.window = 0.5
    threading.Timer(0.05, theirs.send, (b"x",)).start()
    began = time.perf_counter()
    assert selector.select(5.0)
    assert time.perf_counter() - began < 0.5
    assert selector.window == 0.5  # caught by polling: unchanged
    selector.close()


def test_a_timer_due_within_the_window_is_not_overshot() -> None:
    selector, _, _ = readable(1.0)
    selector.window = 1.0
    began = time.perf_counter()
    assert selector.select(0.02) == []
    assert time.perf_counter() - began < 0.5
    selector.close()


def test_a_zero_window_never_polls() -> None:
    selector, ours, theirs = readable(0.0)
    for _ in range(3):
        theirs.send(b"x")
        assert selector.select(1.0)
        ours.recv(1)
    assert selector.window == 0
    selector.close()


def test_run_serves_a_coroutine_on_a_polling_loop() -> None:
    async def main() -> type:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(*server_address)
        writer.write(b"ping")
        assert await reader.read(4) == b"pong"
        writer.close()
        return type(loop._selector)  # type: ignore[attr-defined]

    listener = socket.create_server(("127.0.0.1", 0))
    server_address = listener.getsockname()

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4)
            conn.send(b"pong")

    threading.Thread(target=answer, daemon=True).start()
    assert eventloop.run(main(), 200e-6) is PollingSelector
    listener.close()
