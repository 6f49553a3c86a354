"""SQLite persistence (the default): WAL, writes durable before each response.

Writes are queued in call order and ``flush()`` makes everything queued so far durable at
once, so concurrent requests share it (group commit).

Without fsync (the default), a flush appends the queued writes to the redo log (one write
to the OS, microseconds, see ``redo.py``): that survives ``kill -9`` of LocalZure, not a
power cut. A writer thread applies the logged writes to SQLite in one transaction every
fraction of a second, off the event loop, and replays what it had not applied after a
crash. With ``fsync=True`` each flush commits to SQLite and waits for the disk; that wait
happens on the writer thread so the loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from controlplane.state.backend import StateBackend
from controlplane.state.redo import RedoLog, log_files, records

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v BLOB, PRIMARY KEY (ns, k)) WITHOUT ROWID"
# Past every key character, so [prefix, prefix + _END) is the prefix's key range.
_END = "\U0010ffff"
# How often the writer thread wakes: writes made without a flush (timers, background work)
# still become durable, and the redo log reaches SQLite, this soon.
_IDLE_COMMIT_SECONDS = 0.2

_PAGE_SIZE = 8192
# Logged writes waiting for SQLite past this many wake the writer thread early.
_APPLY_AT = 20_000
# Where the number of the last redo-log file applied is kept, with the data it covers.
_REDO_NS, _REDO_KEY = "localzure.redo", "applied"

Op = tuple[str, str, str, bytes | None]


class SqliteBackend(StateBackend):
    def __init__(self, path: Path, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Only a new database takes it. Records of ~1-2 KiB (a message with a 1 KiB body) then fit
        # on their leaf page instead of spilling to overflow pages: about half the pages written.
        self._conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._conn.execute(_SCHEMA)
        self._logged: list[Op] = []
        """Flushed (in the redo log), not yet in SQLite."""
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()
        self._queued: list[Op] = []
        self._enqueued = 0
        self._durable = 0
        self._error: BaseException | None = None
        self._waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        self._closing = False
        applied = self._replay()
        # Numbers only grow: a file numbered at or below ``applied`` would be skipped by a replay.
        self._redo = None if fsync else RedoLog(path, applied + 1)
        self._thread = threading.Thread(target=self._write_loop, name=f"sqlite-writer:{path.name}", daemon=True)
        self._thread.start()

    def _replay(self) -> int:
        """Apply the redo-log files a crash left behind that SQLite does not have yet; the
        number of the last file applied."""
        row = self._conn.execute("SELECT v FROM kv WHERE ns = ? AND k = ?", (_REDO_NS, _REDO_KEY)).fetchone()
        applied: int = orjson.loads(row[0]) if row else 0
        files = log_files(self.path)
        if not files:
            return applied
        last = max(applied, files[-1][0])
        operations = [op for n, path in files if n > applied for batch in records(path) for op in batch]
        operations.append(("put", _REDO_NS, _REDO_KEY, orjson.dumps(last)))
        self._commit(operations)
        if self._error is not None:
            raise self._error
        for _, path in files:
            path.unlink()
        return last

    def load(self, namespace: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        if self._redo is not None:
            self._apply_logged()
        reader = sqlite3.connect(self.path)
        try:
            rows = reader.execute(
                "SELECT k, v FROM kv WHERE ns = ? AND k >= ? AND k < ? ORDER BY k",
                (namespace, prefix, prefix + _END),
            ).fetchall()
        finally:
            reader.close()
        return ((k, orjson.loads(v)) for k, v in rows)

    def _enqueue(self, op: Op) -> None:
        with self._lock:
            self._queued.append(op)
            self._enqueued += 1

    def put(self, namespace: str, key: str, value: Any) -> None:
        self._enqueue(("put", namespace, key, orjson.dumps(value)))

    def delete(self, namespace: str, key: str) -> None:
        self._enqueue(("del", namespace, key, None))

    def delete_prefix(self, namespace: str, prefix: str) -> None:
        self._enqueue(("delp", namespace, prefix, None))

    @property
    def pending(self) -> bool:
        return self._durable < self._enqueued

    def flush_now(self) -> bool:
        if self._durable >= self._enqueued:
            return True
        if self._redo is None:
            return False
        self._log_queued()
        return True

    async def flush(self) -> None:
        if self.flush_now():
            return
        target = self._enqueued
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._durable >= target:
                return
            self._waiters.append((target, future, loop))
        self._wake.set()
        await future

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=30)
        if self._redo is not None:
            self._redo.close()
        self._conn.close()

    def _log_queued(self) -> None:
        """Append what is queued to the redo log: durable on return."""
        with self._lock:
            batch, self._queued = self._queued, []
            upto = self._enqueued
            if batch:
                try:
                    self._redo.append(batch)  # type: ignore[union-attr]
                except BaseException:
                    self._queued = batch + self._queued
                    raise
                self._logged += batch
            self._durable = max(self._durable, upto)
            if len(self._logged) >= _APPLY_AT:
                self._wake.set()

    def _apply_logged(self) -> None:
        """Log what is still queued, commit what the redo log holds to SQLite, drop those files."""
        redo = self._redo
        assert redo is not None
        with self._commit_lock:
            try:
                # Through the log, like a flush: nothing counts as durable while only in memory.
                self._log_queued()
            except OSError as exc:
                log.error("writing the redo log failed: %s", exc)
            with self._lock:
                logged, self._logged = self._logged, []
                if not logged:
                    return
                # Files up to this number hold everything in ``logged``; later flushes go to the next.
                through = redo.rotate()
            self._commit([*logged, ("put", _REDO_NS, _REDO_KEY, orjson.dumps(through))])
            if self._error is not None:
                log.error("applying the redo log to SQLite failed; retrying: %s", self._error)
                self._error = None
                with self._lock:
                    self._logged = logged + self._logged
                return
        redo.remove_through(through)

    def _commit_queued(self) -> int:
        """Commit what is queued, on the writer thread (fsync mode); returns how far that reached."""
        with self._lock:  # the queue stays open to writers meanwhile
            batch, self._queued = self._queued, []
            upto = self._enqueued
        if batch:
            self._commit(batch)
        if self._error is None:
            self._durable = max(self._durable, upto)
        return upto

    def _write_loop(self) -> None:
        while True:
            self._wake.wait(_IDLE_COMMIT_SECONDS)
            self._wake.clear()
            if self._redo is not None:
                self._apply_logged()
                if self._closing and not self._queued and not self._logged:
                    return
                continue
            upto = self._commit_queued()
            with self._lock:
                ready = [w for w in self._waiters if w[0] <= upto]
                self._waiters = [w for w in self._waiters if w[0] > upto]
                error = self._error if ready else None
                if ready:
                    self._error = None
            for _, future, loop in ready:
                loop.call_soon_threadsafe(_settle, future, error)
            if self._closing and not self._queued:
                return

    def _commit(self, batch: list[Op]) -> None:
        batch = _last_writes(batch)
        cur = self._conn.cursor()
        # A lone statement is its own transaction (autocommit): no BEGIN/COMMIT round trips.
        single = len(batch) == 1
        try:
            if not single:
                cur.execute("BEGIN")
            for kind, ns, key, value in batch:
                if kind == "put":
                    cur.execute("INSERT OR REPLACE INTO kv (ns, k, v) VALUES (?, ?, ?)", (ns, key, value))
                elif kind == "del":
                    cur.execute("DELETE FROM kv WHERE ns = ? AND k = ?", (ns, key))
                else:
                    cur.execute("DELETE FROM kv WHERE ns = ? AND k >= ? AND k < ?", (ns, key, key + _END))
            if not single:
                cur.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("state commit failed: %s", exc)
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            self._error = exc


def _last_writes(batch: list[Op]) -> list[Op]:
    """The batch without the puts and deletes that a later put or delete of the same key undoes
    (a counter bumped per message of a batch is written once)."""
    last = {(ns, key): index for index, (kind, ns, key, _) in enumerate(batch) if kind != "delp"}
    if len(last) == len(batch):
        return batch
    return [op for index, op in enumerate(batch) if op[0] == "delp" or last[(op[1], op[2])] == index]


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
