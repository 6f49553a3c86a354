"""The servers a benchmark compares: LocalZure and Azurite, each started fresh on disk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Target:
    name: str
    url: str
    """Path-style account URL of the service, e.g. http://127.0.0.1:10001/devstoreaccount1."""
    process: subprocess.Popen[bytes]
    startup_seconds: float

    def rss_mib(self) -> float:
        proc = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.01)
    raise RuntimeError(f"port {port} did not open in {timeout}s")


@contextlib.contextmanager
def localzure(service: str, config: dict[str, Any] | None = None, name: str = "LocalZure") -> Iterator[Target]:
    """``localzure-cp start --mode host`` with SQLite persistence in a temporary data dir."""
    data = Path(tempfile.mkdtemp(prefix="lz-bench-"))
    edge, port = free_port(), free_port()
    extra: list[str] = []
    if config:
        (data / "bench.json").write_text(json.dumps(config))
        extra = ["--config", str(data / "bench.json")]
    env = {**os.environ, f"LOCALZURE_SERVICES__{service.upper()}__PORT": str(port), "LOCALZURE_LOG_LEVEL": "WARNING"}
    began = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controlplane",
            "start",
            "--mode",
            "host",
            "--services",
            service,
            "--data-dir",
            str(data),
            "--port",
            str(edge),
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # One client for every poll: httpx.get() costs ~50 ms of CPU per call (a new SSL context).
        with httpx.Client(timeout=1, trust_env=False) as client:
            while not _healthy(client, edge):
                if process.poll() is not None:
                    raise RuntimeError("LocalZure exited during start-up")
                time.sleep(0.005)
        yield Target(name, f"http://127.0.0.1:{port}/{ACCOUNT}", process, time.monotonic() - began)
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def _healthy(client: httpx.Client, edge: int) -> bool:
    try:
        return client.get(f"http://127.0.0.1:{edge}/health").json().get("status") == "healthy"
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def azurite(service: str) -> Iterator[Target]:
    """Azurite's single-service server (``npm install`` in bench/ first) with ``--location`` on disk."""
    binary = BENCH / "node_modules" / ".bin" / f"azurite-{service}"
    if not binary.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=BENCH, check=True)
    data = Path(tempfile.mkdtemp(prefix="azurite-bench-"))
    port = free_port()
    began = time.monotonic()
    process = subprocess.Popen(
        [
            str(binary),
            "--location",
            str(data),
            f"--{service}Port",
            str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, process)
        yield Target("Azurite", f"http://127.0.0.1:{port}/{ACCOUNT}", process, time.monotonic() - began)
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(data, ignore_errors=True)
