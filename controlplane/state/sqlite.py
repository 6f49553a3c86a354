"""SQLite persistence (the default): WAL, one writer thread, group commit.

Writes are queued in call order; a writer thread commits whatever has queued up in
one transaction, so sixteen concurrent requests cost one fsync, not sixteen.
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


class SqliteBackend(StateBackend):
    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queued: list[tuple[str, str, str, bytes | None]] = []
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

    def _enqueue(self, op: tuple[str, str, str, bytes | None]) -> None:
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

    def _write_loop(self) -> None:
        while True:
            self._wake.wait(_IDLE_COMMIT_SECONDS)
            self._wake.clear()
            with self._lock:
                batch, self._queued = self._queued, []
                upto = self._enqueued
            if batch:
                self._commit(batch)
            with self._lock:
                self._durable = max(self._durable, upto) if self._error is None else self._durable
                ready = [w for w in self._waiters if w[0] <= upto]
                self._waiters = [w for w in self._waiters if w[0] > upto]
                error, self._error = self._error, None
            for _, future, loop in ready:
                loop.call_soon_threadsafe(_settle, future, error)
            if self._closing and not self._queued:
                return

    def _commit(self, batch: list[tuple[str, str, str, bytes | None]]) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN")
            for kind, ns, key, value in batch:
                if kind == "put":
                    cur.execute("INSERT OR REPLACE INTO kv (ns, k, v) VALUES (?, ?, ?)", (ns, key, value))
                elif kind == "del":
                    cur.execute("DELETE FROM kv WHERE ns = ? AND k = ?", (ns, key))
                else:
                    cur.execute("DELETE FROM kv WHERE ns = ? AND k >= ? AND k < ?", (ns, key, key + _END))
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("state commit failed: %s", exc)
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            self._error = exc


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
