import asyncio
import contextlib
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controlplane.state.memory import MemoryBackend
from controlplane.state.redo import RedoLog, log_files
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


async def test_flush_now_is_done_at_once_only_without_fsync(tmp_path: Path, fsync: bool) -> None:
    backend = SqliteBackend(tmp_path / "s.sqlite", fsync=fsync)
    assert backend.flush_now()  # nothing to do
    backend.put("q", "a", 1)
    assert backend.flush_now() is not fsync  # a commit that waits for the disk has to be awaited
    assert backend.pending is fsync
    await backend.flush()
    assert not backend.pending and backend.flush_now()
    backend.close()
    reopened = SqliteBackend(tmp_path / "s.sqlite")
    assert list(reopened.load("q")) == [("a", 1)]
    reopened.close()


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


def _killed_once_ready(target: Any, path: Path) -> None:
    """Run ``target(path, ready)`` in a child process and kill -9 it once it sets ``ready``."""
    ready = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(target=target, args=(str(path), ready))
    child.start()
    assert ready.wait(30)
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()


def test_flushed_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _killed_once_ready(_write_then_die, path)
    backend = SqliteBackend(path)
    assert [v["i"] for _, v in backend.load("d")] == list(range(200))
    backend.close()


def _flush_unapplied_then_die(path: str, ready: "multiprocessing.synchronize.Event") -> None:  # type: ignore[name-defined]
    import controlplane.state.sqlite as sqlite

    sqlite._IDLE_COMMIT_SECONDS = 3600  # the writer thread never applies the redo log

    async def main() -> None:
        backend = sqlite.SqliteBackend(Path(path))
        backend.put("d", "gone", 1)
        await backend.flush()
        for i in range(100):
            backend.put("d", f"{i:04d}", {"i": i})
            assert backend.flush_now()  # durable on return, as an awaited flush is
        backend.delete("d", "gone")
        await backend.flush()
        backend.put("d", "unflushed", 1)  # never acknowledged
        ready.set()
        await asyncio.sleep(60)

    asyncio.run(main())


def test_a_crash_before_sqlite_has_the_writes_replays_the_redo_log(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _killed_once_ready(_flush_unapplied_then_die, path)
    with contextlib.closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT count(*) FROM kv WHERE ns = 'd'").fetchone() == (0,)  # SQLite never got them
    backend = SqliteBackend(path)
    assert [k for k, _ in backend.load("d")] == [f"{i:04d}" for i in range(100)]
    assert not log_files(path)[:-1]  # replayed ones are gone; only the new, current file
    backend.close()
    assert not log_files(path)


def test_a_record_cut_short_ends_the_replay_and_applied_files_are_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    SqliteBackend(path).close()
    good = RedoLog(path, 1)
    good.append([("put", "d", "a", b"1")])
    good.close()
    with (tmp_path / "s.sqlite-redo.1").open("ab") as torn:
        torn.write(b"\x40\x00\x00\x00\x00\x00\x00\x00partial")  # a crash mid-append
    backend = SqliteBackend(path)
    assert list(backend.load("d")) == [("a", 1)]
    backend.put("d", "a", 2)
    backend.close()
    stale = RedoLog(path, 1)  # a number already applied: its records are older than SQLite's
    stale.append([("put", "d", "a", b"1")])
    stale.close()
    backend = SqliteBackend(path)
    assert list(backend.load("d")) == [("a", 2)]
    backend.close()


async def test_memory_backend_keeps_nothing() -> None:
    backend = MemoryBackend()
    backend.put("n", "k", 1)
    await backend.flush()
    assert not backend.pending and backend.flush_now()
    assert list(backend.load("n")) == []
