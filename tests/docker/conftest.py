"""Docker tests: a real engine, images built here (no registry), one test at a time.

Without an engine these tests skip, unless ``LOCALZURE_REQUIRE_DOCKER=1`` (CI), where a
skip would hide a broken setup: then they fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.runners.engine import DockerEngine, EngineError
from tests.support import free_port

CLI = [sys.executable, "-m", "controlplane"]
REQUIRED = os.environ.get("LOCALZURE_REQUIRE_DOCKER") == "1"
LOCK = Path("/tmp/localzure-docker-tests.lock")


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"LOCALZURE_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    try:
        engine = DockerEngine.connect()
    except EngineError as exc:
        _unavailable(f"no Docker engine: {exc}")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def images(engine: DockerEngine) -> None:
    """LocalZure's images, built here when missing (a fresh machine has none)."""
    from controlplane.runners.images import ImageBuilder

    try:
        ImageBuilder(engine, progress=lambda line: print(line, file=sys.stderr)).build_all()
    except EngineError as exc:
        _unavailable(f"cannot build LocalZure's images: {exc}")


@pytest.fixture
def docker_lock(engine: DockerEngine) -> Iterator[None]:
    with engine_to_ourselves(engine):
        yield


@contextlib.contextmanager
def engine_to_ourselves(engine: DockerEngine) -> Iterator[None]:
    """Container names are fixed (localzure-<service>): concurrent test runs take turns.

    A second hold from the same process would wait forever (flock is per open file), so
    the holders of a wider scope must end before any function-scoped ``docker_lock``."""
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        clean(engine)
        try:
            yield
        finally:
            clean(engine)


def clean(engine: DockerEngine) -> None:
    for info in engine.managed():
        engine.remove(info.id, stop_timeout=1)
    for name in ("localzure-queue", "localzure-blob", "localzure-table"):
        found = engine.find(name)
        if found is not None and found.labels.get("io.localzure.test") == "true":
            engine.remove(found.id, stop_timeout=1)
    # Each test's data dir has its own volumes: drop those of test data dirs.
    for name, labels in engine.managed_volumes().items():
        if labels.get("io.localzure.data-dir", "").startswith(tempfile.gettempdir() + "/pytest-"):
            engine.remove_volume(name)


class ControlPlane:
    """``localzure-cp`` as a user runs it, on free ports."""

    def __init__(
        self,
        data_dir: Path,
        mode: str = "docker",
        env: dict[str, str] | None = None,
        config: Path | None = None,
        services: tuple[str, ...] | None = ("queue",),
    ) -> None:
        """``services=None`` runs every installed service; most tests need only the queue."""
        self.data_dir = data_dir
        self.services = services
        self.edge = free_port()
        self.queue = free_port()
        self.mode = mode
        self.ports = {"queue": self.queue, "blob": free_port(), "table": free_port(), "servicebus": free_port()}
        self.env = {
            **os.environ,
            **{f"LOCALZURE_SERVICES__{name.upper()}__PORT": str(port) for name, port in self.ports.items()},
            **(env or {}),
        }
        self.common = ["--data-dir", str(data_dir), "--port", str(self.edge)]
        if config is not None:
            self.common += ["--config", str(config)]
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"cp-{self.edge}.log"

    def start(self) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [*CLI, "start", *self.common, "--mode", self.mode, "--log-format", "text", *self.services_args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self.process

    @property
    def services_args(self) -> list[str]:
        return ["--services", ",".join(self.services)] if self.services else []

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, args[0], *self.common, *args[1:]], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        # One client for every poll: each httpx.get() builds an SSL context (~50 ms of CPU).
        with httpx.Client(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"control plane exited {self.process.returncode}:\n{self.output()}")
                try:
                    if client.get(f"{self.admin}/health").json()["status"] == "healthy":
                        return
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                time.sleep(0.1)
        raise AssertionError(f"not healthy in {timeout}s:\n{self.output()}")

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.edge}/_localzure"

    def service(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.admin}/services/{name}", timeout=5).json()
        return result

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)


@pytest.fixture
def control_planes(tmp_path: Path, images: None, docker_lock: None) -> Iterator[list[ControlPlane]]:
    """Started control planes are stopped (gracefully) after the test."""
    started: list[ControlPlane] = []
    yield started
    for cp in started:
        if cp.process is not None and cp.process.poll() is None:
            try:
                cp.terminate()
            except subprocess.TimeoutExpired:
                cp.kill()


def docker_json(*args: str) -> Any:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)
