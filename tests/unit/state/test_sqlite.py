import asyncio
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from controlplane.state.memory import MemoryBackend
from controlplane.state.sqlite import SqliteBackend
from tests.support import wait_for


@pytest.fixture(params=[False, True], ids=["os-buffered", "fsync"])
def fsync(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_flushed_writes_are_loaded_in_key_order(tmp_path: Path, fsync: bool) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite", fsync=fsync)
    backend.put("q", "b", {"n": 2})
    backend.put("q", "a", {"n": 1})
    backend.put("other", "a", [1, "x"])
    assert backend.pending
    await backend.flush()
    assert not backend.pending
    backend.close()
    reopened = SqliteBackend(tmp_path / "s.sqlite")
    assert list(reopened.load("q")) == [("a", {"n": 1}), ("b", {"n": 2})]
    assert list(reopened.load("other")) == [("a", [1, "x"])]
    reopened.close()


async def test_delete_and_delete_prefix(tmp_path: Path, fsync: bool) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite", fsync=fsync)
    for key in ("acct/q1/1", "acct/q1/2", "acct/q10/1", "acct/q2/1", "keep"):
        backend.put("m", key, key)
    backend.delete("m", "keep")
    backend.delete_prefix("m", "acct/q1/")
    await backend.flush()
    assert [k for k, _ in backend.load("m")] == ["acct/q10/1", "acct/q2/1"]
    assert [k for k, _ in backend.load("m", "acct/q2")] == ["acct/q2/1"]
    backend.delete_prefix("m", "")
    await backend.flush()
    assert list(backend.load("m")) == []
    backend.close()


async def test_a_key_written_again_in_one_commit_keeps_its_last_write(tmp_path: Path, fsync: bool) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite", fsync=fsync)
    backend.put("m", "gone", 0)
    await backend.flush()
    for n in range(1, 4):
        backend.put("m", "counter", n)
    backend.put("m", "gone", 1)
    backend.delete("m", "gone")
    backend.put("m", "prefix/1", 1)
    backend.delete_prefix("m", "prefix/")
    backend.put("m", "prefix/2", 2)
    await backend.flush()
    assert list(backend.load("m")) == [("counter", 3), ("prefix/2", 2)]
    backend.close()


async def test_concurrent_flushes_share_commits_and_all_land(tmp_path: Path, fsync: bool) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite", fsync=fsync)

    async def writer(n: int) -> None:
        for i in range(50):
            backend.put("w", f"{n:02d}/{i:03d}", i)
            await backend.flush()

    await asyncio.gather(*(writer(n) for n in range(16)))
    assert len(list(backend.load("w"))) == 800
    backend.close()


def test_unflushed_writes_are_committed_in_the_background(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite")
    backend.put("t", "k", "v")
    assert wait_for(lambda: list(backend.load("t")), timeout=5) == [("k", "v")]
    backend.close()


def _write_then_die(path: str, ready: "multiprocessing.synchronize.Event") -> None:  # type: ignore[name-defined]
    async def main() -> None:
        backend = SqliteBackend(Path(path))
        for i in range(200):
            backend.put("d", f"{i:04d}", {"i": i})
        await backend.flush()
        ready.set()
        await asyncio.sleep(60)

    asyncio.run(main())


def test_flushed_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ready = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(target=_write_then_die, args=(str(path), ready))
    child.start()
    assert ready.wait(30)
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()
    backend = SqliteBackend(path)
    assert [v["i"] for _, v in backend.load("d")] == list(range(200))
    backend.close()


async def test_memory_backend_keeps_nothing() -> None:
    backend = MemoryBackend()
    backend.put("n", "k", 1)
    await backend.flush()
    assert not backend.pending
    assert list(backend.load("n")) == []
