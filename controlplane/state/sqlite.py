"""SQLite persistence (the default): WAL, writes committed before each response.

Writes are queued in call order and ``flush()`` commits everything queued so far in
one transaction, so concurrent requests share a commit (group commit).

Without fsync (the default) a commit hands the WAL pages to the OS: it survives
``kill -9`` of LocalZure, not a power cut. Such a commit takes tens of microseconds,
so it runs inline on the event loop. With ``fsync=True`` each commit also waits for
the disk; that wait happens on a writer thread so the loop keeps serving meanwhile.
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

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v BLOB, PRIMARY KEY (ns, k)) WITHOUT ROWID"
# Past every key character, so [prefix, prefix + _END) is the prefix's key range.
_END = "\U0010ffff"
# Writes made without a flush (timers, background work) still reach the disk this soon.
_IDLE_COMMIT_SECONDS = 0.2

_PAGE_SIZE = 8192

Op = tuple[str, str, str, bytes | None]


class SqliteBackend(StateBackend):
    def __init__(self, path: Path, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fsync = fsync
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Only a new database takes it. Records of ~1-2 KiB (a message with a 1 KiB body) then fit
        # on their leaf page instead of spilling to overflow pages: about half the pages written.
        self._conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()
        self._queued: list[Op] = []
        self._enqueued = 0
        self._durable = 0
        self._error: BaseException | None = None
        self._waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        self._closing = False
        self._thread = threading.Thread(target=self._write_loop, name=f"sqlite-writer:{path.name}", daemon=True)
        self._thread.start()

    def load(self, namespace: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
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

    async def flush(self) -> None:
        target = self._enqueued
        if self._durable >= target:
            return
        if not self.fsync:
            self._commit_queued()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return
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
        self._conn.close()

    def _commit_queued(self) -> int:
        """Commit what is queued (on whichever thread calls it); returns how far that reached."""
        # One commit at a time, in queue order; the queue itself stays open to writers meanwhile.
        with self._commit_lock:
            with self._lock:
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
