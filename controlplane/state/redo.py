"""The redo log: flushed write batches, appended to a file before SQLite has them.

Appending a batch is one ``write`` to the OS (microseconds), so a flush returns at once and
survives ``kill -9``; the SQLite backend applies the logged batches in one transaction a
little later, on its writer thread. Each time it does, it starts a new log file first and
deletes the older ones once the transaction commits, recording in that same transaction the
last file it applied. After a crash the files not yet applied are replayed, in order, and a
record cut short by the crash (never acknowledged) ends its file.

A record is ``length (u32) | crc32 (u32) | pickled list of operations``.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_RECORD = struct.Struct("<II")


class RedoLog:
    """Numbered files ``<db>-redo.<n>``; records go to the newest, starting at ``number``."""

    def __init__(self, database: Path, number: int) -> None:
        self._database = database
        self.number = number
        self._fd = self._open(number)

    def append(self, operations: list[Any]) -> None:
        payload = pickle.dumps(operations, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(_RECORD.pack(len(payload), zlib.crc32(payload)) + payload)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            # A record cut short ends its file's replay: the records after it go to a new file.
            self.rotate()
            raise

    def rotate(self) -> int:
        """Start a new file; returns the number of the one just closed."""
        closed = self.number
        os.close(self._fd)
        self.number += 1
        self._fd = self._open(self.number)
        return closed

    def remove_through(self, number: int) -> None:
        for n, path in log_files(self._database):
            if n <= number:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)
        if os.stat(_path(self._database, self.number)).st_size == 0:
            _path(self._database, self.number).unlink()

    def _open(self, number: int) -> int:
        return os.open(_path(self._database, number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _path(database: Path, number: int) -> Path:
    return database.with_name(f"{database.name}-redo.{number}")


def log_files(database: Path) -> list[tuple[int, Path]]:
    """The redo-log files of a database, oldest first."""
    prefix = f"{database.name}-redo."
    found = []
    for path in database.parent.glob(f"{prefix}*"):
        suffix = path.name[len(prefix) :]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return sorted(found)


def records(path: Path) -> Iterator[list[Any]]:
    """The complete records of a log file, up to the first one cut short or damaged."""
    data = path.read_bytes()
    offset = 0
    while offset + _RECORD.size <= len(data):
        length, crc = _RECORD.unpack_from(data, offset)
        payload = data[offset + _RECORD.size : offset + _RECORD.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        yield pickle.loads(payload)
        offset += _RECORD.size + length
