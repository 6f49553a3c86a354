"""Small helpers shared by tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

from controlplane.config import WELL_KNOWN_KEY

T = TypeVar("T")

__all__ = ["WELL_KNOWN_KEY", "free_port", "wait_for"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """The predicate's first truthy result; AssertionError if none comes in time."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
