"""Blob content on disk: one file per piece (a Put Blob body, a block, an appended block, a
page blob), shared by reference count between a blob, its snapshots and versions.

Files are written once (page blobs excepted, which are written in place), fsynced before
the request is answered, and never held in memory whole: bodies are received and sent
in chunks. Small Put Blob bodies are kept inline in the blob's record instead, so the
common tiny write costs one group-committed state write and no file at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from adapters.blob.crc64 import crc64
from adapters.blob.errors import AzureError, RequestBodyTooLarge
from adapters.blob.models import Blob


class ClientDisconnected(AzureError):
    """The client went away before its body arrived whole: nothing is stored."""

    status = 400
    code = "InvalidInput"
    message = "The client disconnected before the request body was complete."


CHUNK = 1 << 20
"""Bytes per disk write batch and per response body message."""


class Received:
    __slots__ = ("inline", "file_id", "size", "md5", "crc")

    def __init__(self, inline: bytes | None, file_id: str | None, size: int, md5: bytes, crc: int | None) -> None:
        self.inline = inline
        self.file_id = file_id
        self.size = size
        self.md5 = md5
        self.crc = crc


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "content"
        self.root.mkdir(parents=True, exist_ok=True)
        self.refs: dict[str, int] = {}
        self._dirs: set[str] = set()
        self._reading = 0
        self._doomed: list[str] = []
        """Files released while a read was in flight: unlinked once no read is."""

    def path(self, file_id: str) -> str:
        return os.path.join(self.root, file_id[:2], file_id)

    def _directory(self, file_id: str) -> str:
        return os.path.join(self.root, file_id[:2])

    # -- reference counts -------------------------------------------------------------------

    def retain(self, file_ids: list[str]) -> None:
        refs = self.refs
        for file_id in file_ids:
            refs[file_id] = refs.get(file_id, 0) + 1

    def release(self, file_ids: list[str]) -> None:
        refs = self.refs
        for file_id in file_ids:
            count = refs.get(file_id, 0) - 1
            if count > 0:
                refs[file_id] = count
            else:
                refs.pop(file_id, None)
                self.remove(file_id)

    def remove(self, file_id: str) -> None:
        if self._reading:
            self._doomed.append(file_id)
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(file_id))

    def sweep(self) -> int:
        """Delete every file nothing references (left by a crash between write and commit)."""
        removed = 0
        for directory in self.root.iterdir():
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                if entry.name not in self.refs:
                    entry.unlink(missing_ok=True)
                    removed += 1
        return removed

    def reset(self) -> None:
        self.refs.clear()
        self.sweep()

    # -- writing ----------------------------------------------------------------------------

    def _new_file(self) -> tuple[str, int]:
        file_id = uuid.uuid4().hex
        directory = file_id[:2]
        if directory not in self._dirs:
            os.makedirs(os.path.join(self.root, directory), exist_ok=True)
            self._dirs.add(directory)
        fd = os.open(self.path(file_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        return file_id, fd

    async def receive(
        self,
        receive: Callable,
        inline_limit: int,
        max_size: int,
        want_crc: bool = False,
    ) -> Received:
        """Read a request body to its end: inline when it stays within ``inline_limit``, else a
        new fsynced file. RequestBodyTooLarge past ``max_size``."""
        md5 = hashlib.md5()
        crc = 0 if want_crc else None
        pending: list[bytes] = []
        pending_size = 0
        size = 0
        file_id: str | None = None
        fd = -1
        writing: asyncio.Future[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected()
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > max_size:
                        raise RequestBodyTooLarge(details={"MaxLimit": str(max_size)})
                    if crc is not None:
                        crc = crc64(chunk, crc)
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= CHUNK:
                        if fd < 0:
                            file_id, fd = self._new_file()
                        data = b"".join(pending)
                        pending.clear()
                        pending_size = 0
                        if writing is not None:
                            await writing
                        # The worker hashes (hashlib drops the GIL), writes and syncs this batch
                        # while the next one arrives: the disk keeps pace with the network, and
                        # at most two batches of a body are in memory.
                        writing = asyncio.ensure_future(asyncio.to_thread(_hash_write_sync, fd, data, md5))
                more = message.get("more_body", False)
                if not more:
                    break
            if writing is not None:
                await writing
                writing = None
            if fd < 0 and size <= inline_limit:
                data = b"".join(pending)
                md5.update(data)
                return Received(data, None, size, md5.digest(), crc)
            if fd < 0:
                file_id, fd = self._new_file()
            assert file_id is not None
            data = b"".join(pending)
            pending.clear()
            await asyncio.to_thread(_finish, fd, data, self._directory(file_id), md5)
            fd = -1
            return Received(None, file_id, size, md5.digest(), crc)
        except BaseException:
            if writing is not None:
                with contextlib.suppress(BaseException):
                    await writing
            if fd >= 0:
                os.close(fd)
            if file_id is not None:
                self.remove(file_id)
            raise

    async def copy_pieces(self, source: Blob, start: int, end: int) -> tuple[str, int]:
        """A new file holding bytes [start, end) of a blob (Put Block From URL, copy of a range)."""
        file_id, fd = self._new_file()
        try:
            async for chunk in self.read(source, start, end):
                await asyncio.to_thread(_write_all, fd, chunk)
            await asyncio.to_thread(_finish, fd, b"", self._directory(file_id))
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            self.remove(file_id)
            raise
        return file_id, end - start

    # -- page blobs -------------------------------------------------------------------------

    def create_sparse(self, size: int) -> str:
        file_id, fd = self._new_file()
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_directory(self._directory(file_id))
        return file_id

    async def write_at(self, file_id: str, offset: int, data: bytes | None, length: int) -> None:
        """Write ``data`` at ``offset`` (or zeros for ``length`` bytes when ``data`` is None)."""
        await asyncio.to_thread(_pwrite, self.path(file_id), offset, data, length)

    def resize(self, file_id: str, size: int) -> None:
        fd = os.open(self.path(file_id), os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def duplicate(self, file_id: str) -> str:
        """A private copy of a file (a page blob's snapshot must not see later writes)."""
        new_id, fd = self._new_file()
        os.close(fd)
        try:
            await asyncio.to_thread(_copy_file, self.path(file_id), self.path(new_id))
            _fsync_directory(self._directory(new_id))
        except BaseException:
            self.remove(new_id)
            raise
        return new_id

    # -- reading ----------------------------------------------------------------------------

    async def read(self, blob: Blob, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Bytes [start, end) of a blob, in chunks of at most CHUNK."""
        if blob.inline is not None:
            if end > start:
                yield blob.inline[start:end]
            return
        pieces: list[tuple[str, int, int]] = []
        offset = 0
        for file_id, size in blob.extents:
            if offset + size > start and offset < end:
                pieces.append((file_id, max(start - offset, 0), min(end - offset, size)))
            offset += size
        # While any read runs, released files are only unlinked afterwards: a concurrent
        # overwrite or delete never pulls a piece from under a response in progress.
        self._reading += 1
        try:
            for file_id, low, high in pieces:
                fd = os.open(self.path(file_id), os.O_RDONLY)
                try:
                    position = low
                    while position < high:
                        count = min(CHUNK, high - position)
                        if count <= 65536:
                            data = os.pread(fd, count, position)
                        else:
                            data = await asyncio.to_thread(os.pread, fd, count, position)
                        if not data:
                            data = bytes(count)  # a sparse page blob read past its written end
                        position += len(data)
                        yield data
                finally:
                    os.close(fd)
        finally:
            self._reading -= 1
            if not self._reading and self._doomed:
                doomed, self._doomed = self._doomed, []
                for file_id in doomed:
                    if file_id not in self.refs:
                        self.remove(file_id)

    async def read_all(self, blob: Blob, start: int, end: int, limit: int) -> bytes:
        if end - start > limit:
            raise RequestBodyTooLarge()
        return b"".join([chunk async for chunk in self.read(blob, start, end)])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _hash_write_sync(fd: int, data: bytes, md5: Any) -> None:
    md5.update(data)
    _write_all(fd, data)
    os.fdatasync(fd)


def _finish(fd: int, data: bytes, directory: str = "", md5: Any = None) -> None:
    try:
        if data:
            if md5 is not None:
                md5.update(data)
            _write_all(fd, data)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    if directory:
        _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # A new file's name must be durable too, or a power cut could lose a file the state refers to.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pwrite(path: str, offset: int, data: bytes | None, length: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        if data is None:
            zeros = bytes(min(length, CHUNK))
            position = offset
            while position < offset + length:
                count = min(len(zeros), offset + length - position)
                os.pwrite(fd, zeros[:count], position)
                position += count
        else:
            os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file(source: str, target: str) -> None:
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while True:
            data = reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
        writer.flush()
        os.fsync(writer.fileno())
