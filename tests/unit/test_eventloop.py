"""The polling selector: it polls only while events keep coming soon and no other task waits for a
CPU, catches an event that arrives while it polls, never overshoots a timer, and ``run`` serves a
coroutine on it. The CPU pressure it goes by, read from the kernel's pressure file."""

from __future__ import annotations

import asyncio
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controlplane import eventloop
from controlplane.eventloop import MIN_WINDOW, CpuPressure, PollingSelector


class Pressure(CpuPressure):
    def __init__(self, contended: bool = False) -> None:
        self.contended = contended

    def low(self) -> bool:
        return not self.contended


def readable(
    max_window: float, pressure: CpuPressure | None = None
) -> tuple[PollingSelector, socket.socket, socket.socket]:
    selector = PollingSelector(max_window, pressure or Pressure())
    ours, theirs = socket.socketpair()
    selector.register(ours, selectors.EVENT_READ)
    return selector, ours, theirs


def ticking() -> Callable[[], float]:
    """A clock 0.1 ms later at each reading."""
    readings = itertools.count(1)
    return lambda: next(readings) * 100e-6


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
    selector.clock = ticking()
    assert selector.select(1.0)  # woken 0.1 ms later (by the scripted clock): soon
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


class Recorded(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Below the polling selector in a test's class: records each timeout it is asked to wait for."""

    def __init__(self, *args: object) -> None:
        self.timeouts: list[float | None] = []
        super().__init__(*args)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.timeouts.append(timeout)
        return super().select(timeout)


class RecordedPollingSelector(PollingSelector, Recorded):
    pass


def test_it_does_not_poll_while_tasks_wait_for_a_cpu() -> None:
    selector = RecordedPollingSelector(0.5, Pressure(contended=True))
    ours, theirs = socket.socketpair()
    selector.register(ours, selectors.EVENT_READ)
    selector.window = 0.5
    threading.Timer(0.05, theirs.send, (b"x",)).start()
    assert selector.select(5.0)
    assert selector.timeouts == [5.0]  # straight to the blocking wait: no poll
    selector.close()


def pressure_file(tmp_path: Path, total: int) -> Path:
    path = tmp_path / "cpu"
    path.write_text(
        f"some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    return path


def test_cpu_pressure_is_the_share_of_time_some_task_waited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(CpuPressure, "clock", staticmethod(lambda: now[0]))
    path = pressure_file(tmp_path, 1_000_000)
    pressure = CpuPressure(path)
    assert pressure.low()
    pressure_file(tmp_path, 1_050_000)  # 50 ms of waiting in 1 s: 5%
    now[0] += 1.0
    assert pressure.low() and pressure.share == pytest.approx(0.05)
    pressure_file(tmp_path, 1_350_000)  # 300 ms more in the next second: 30%
    now[0] += 0.05
    assert pressure.low()  # not read again yet: sampled every 0.1 s
    now[0] += 0.95
    assert not pressure.low() and pressure.share == pytest.approx(0.3)


def test_without_a_pressure_file_the_cpu_counts_as_contended(tmp_path: Path) -> None:
    assert not CpuPressure(tmp_path / "missing").low()
    (tmp_path / "odd").write_text("nothing we know\n")
    assert not CpuPressure(tmp_path / "odd").low()


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
