"""A real ``localzure-cp`` process: acknowledged blobs survive kill -9, and a 256 MiB blob
streams through without the server holding it in memory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from azure.storage.blob import BlobServiceClient

from tests.support import WELL_KNOWN_KEY, free_port

CLI = [sys.executable, "-m", "controlplane"]
MiB = 1024 * 1024


class BlobServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.edge = free_port()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LOCALZURE_SERVICES__BLOB__PORT": str(self.port)}
        self.process = subprocess.Popen(
            [*CLI, "start", "--mode", "host", "--services", "blob", "--data-dir", str(self.data_dir),
             "--port", str(self.edge), "--log-level", "WARNING"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        result = subprocess.run(
            [*CLI, "wait", "--data-dir", str(self.data_dir), "--port", str(self.edge), "--timeout", "30"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr

    def client(self) -> BlobServiceClient:
        return BlobServiceClient(
            f"http://127.0.0.1:{self.port}/devstoreaccount1",
            credential={"account_name": "devstoreaccount1", "account_key": WELL_KNOWN_KEY},
            max_single_put_size=4 * MiB,
            max_block_size=4 * MiB,
            max_single_get_size=4 * MiB,
            max_chunk_get_size=4 * MiB,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BlobServer]:
    instance = BlobServer(tmp_path / "data")
    yield instance
    if instance.process is not None and instance.process.poll() is None:
        instance.process.kill()
        instance.process.wait()


@pytest.mark.slow
def test_acknowledged_blobs_survive_sigkill(server: BlobServer) -> None:
    server.start()
    service = server.client()
    expected: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
    for c in range(2):
        container = service.create_container(f"durable-{c}", metadata={"round": str(c)})
        for i in range(20):
            # Small (inline), file-backed and block-list blobs.
            size = (10, 20_000, 5 * MiB + 7)[i % 3] if i < 6 else 100 + i
            data = os.urandom(size)
            metadata = {"index": str(i)}
            container.upload_blob(f"blob-{i}", data, metadata=metadata)
            expected[(f"durable-{c}", f"blob-{i}")] = (data, metadata)
    staged = service.get_blob_client("durable-0", "staged")
    staged.stage_block("QUFBQQ==", b"staged before the kill")
    server.kill()

    server.start()
    service = server.client()
    assert sorted(c.name for c in service.list_containers()) == ["durable-0", "durable-1"]
    assert service.get_container_client("durable-1").get_container_properties().metadata == {"round": "1"}
    staged = service.get_blob_client("durable-0", "staged")
    staged.commit_block_list(["QUFBQQ=="])
    assert staged.download_blob().readall() == b"staged before the kill"
    for (container, name), (data, metadata) in expected.items():
        blob = service.get_blob_client(container, name)
        assert blob.get_blob_properties().metadata == metadata
        assert blob.download_blob().readall() == data


class _Pattern:
    """A 256 MiB readable stream made of a repeating block: nothing this big sits in the test's memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.block = hashlib.sha256(b"seed").digest() * (MiB // 32)

    def read(self, count: int = -1) -> bytes:
        if count < 0:
            count = self.size - self.position
        count = min(count, self.size - self.position)
        start = self.position % len(self.block)
        out = (self.block[start:] + self.block)[: min(count, len(self.block))]
        while len(out) < count:
            out += self.block[: count - len(out)]
        self.position += count
        return out


@pytest.mark.slow
def test_256_mib_streams_without_holding_it_in_memory(server: BlobServer) -> None:
    server.start()
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = 256 * MiB
    try:
        service = server.client()
        container = service.create_container("large")
        blob = container.get_blob_client("big.bin")
        blob.upload_blob(_Pattern(size), length=size, max_concurrency=2)
        expected = hashlib.sha256()
        pattern = _Pattern(size)
        digest = hashlib.sha256()
        received = 0
        for chunk in blob.download_blob(max_concurrency=1).chunks():
            digest.update(chunk)
            expected.update(pattern.read(len(chunk)))
            received += len(chunk)
    finally:
        stop.set()
        sampler.join()
    assert received == size
    assert digest.hexdigest() == expected.hexdigest()
    growth = peak[0] - baseline
    print(f"RSS growth {growth / MiB:.1f} MiB")
    assert growth < 64 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB"
