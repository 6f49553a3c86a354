"""Small helpers shared by tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from controlplane.config import WELL_KNOWN_KEY

T = TypeVar("T")

__all__ = ["WELL_KNOWN_KEY", "StandaloneEmulator", "free_port", "wait_for"]


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


class StandaloneEmulator:
    """``python -m adapters.<service>`` as its container runs it, on free ports, killable.

    Subclasses say when it is ready (``answering``) and build their SDK clients."""

    service = ""
    ROOT = Path(__file__).resolve().parents[1]

    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.port = free_port()
        self.edge = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LOCALZURE_PORT": str(self.edge), "LOCALZURE_LOG_LEVEL": "WARNING"}
        args = [sys.executable, "-m", f"adapters.{self.service}", "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), *self.extra_args]
        self.process = subprocess.Popen(args, cwd=self.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._ready, timeout=30)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            stderr = self.process.stderr.read().decode() if self.process.stderr else ""
            raise AssertionError(f"emulator exited: {stderr}")
        return self.answering()

    def answering(self) -> bool:
        raise NotImplementedError

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
