"""Blob Storage's in-memory records: containers, blobs (with their snapshots, versions and
soft-deleted generations) and leases. Each knows its own JSON record for the state backend."""

from __future__ import annotations

import base64
import bisect
import os
import time
from typing import Any

BLOCK = "BlockBlob"
APPEND = "AppendBlob"
PAGE = "PageBlob"

INFINITE = -1


def new_etag() -> str:
    return f'"0x{time.time_ns() // 100 + int.from_bytes(os.urandom(2), "big"):X}"'


class Lease:
    """A lease on a container or blob; its state is derived from the clock when asked."""

    __slots__ = ("id", "duration", "expires", "break_at", "broken")

    def __init__(self, id: str, duration: int, expires: float, break_at: float = 0.0, broken: bool = False) -> None:
        self.id = id
        self.duration = duration
        """Seconds, or INFINITE."""
        self.expires = expires
        self.break_at = break_at
        """When a breaking lease becomes broken (0: not breaking)."""
        self.broken = broken

    def state(self, now: float) -> str:
        """available | leased | expired | breaking | broken (Azure's LeaseState values)."""
        if self.broken:
            return "broken"
        if self.break_at:
            return "breaking" if now < self.break_at else "broken"
        if self.duration != INFINITE and now >= self.expires:
            return "expired"
        return "leased"

    def active(self, now: float) -> bool:
        """True while the lease blocks writers (leased or breaking)."""
        state = self.state(now)
        return state in ("leased", "breaking")

    def record(self) -> list[Any]:
        return [self.id, self.duration, self.expires, self.break_at, self.broken]

    @classmethod
    def from_record(cls, value: list[Any] | None) -> Lease | None:
        return None if value is None else cls(*value)


class Container:
    __slots__ = (
        "id", "account", "name", "metadata", "etag", "modified", "public_access", "acl", "lease",
        "deleted", "blobs", "history", "names",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        account: str,
        name: str,
        metadata: dict[str, str],
        etag: str,
        modified: float,
        public_access: str = "",
        acl: list[dict[str, str]] | None = None,
        lease: Lease | None = None,
        deleted: float = 0.0,
    ) -> None:
        self.id = id
        self.account = account
        self.name = name
        self.metadata = metadata
        self.etag = etag
        self.modified = modified
        self.public_access = public_access
        """'' (private), 'blob' or 'container'."""
        self.acl: list[dict[str, str]] = acl or []
        self.lease = lease
        self.deleted = deleted
        """When it was soft-deleted (0: live)."""
        self.blobs: dict[str, Blob] = {}
        """Name -> the current (live) blob."""
        self.history: dict[str, list[Blob]] = {}
        """Name -> its snapshots, previous versions and soft-deleted generations, oldest first."""
        self.names: list[str] = []
        """Every name with a live blob or history, sorted (what List Blobs pages through)."""

    def record(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "name": self.name,
            "metadata": self.metadata,
            "etag": self.etag,
            "modified": self.modified,
            "public": self.public_access,
            "acl": self.acl,
            "lease": self.lease.record() if self.lease else None,
            "deleted": self.deleted,
        }

    @classmethod
    def from_record(cls, id: str, value: dict[str, Any]) -> Container:
        return cls(
            id,
            value["account"],
            value["name"],
            dict(value.get("metadata") or {}),
            value["etag"],
            value["modified"],
            value.get("public") or "",
            list(value.get("acl") or []),
            Lease.from_record(value.get("lease")),
            value.get("deleted") or 0.0,
        )

    def track(self, name: str) -> None:
        index = bisect.bisect_left(self.names, name)
        if index == len(self.names) or self.names[index] != name:
            self.names.insert(index, name)

    def untrack_if_empty(self, name: str) -> None:
        if name in self.blobs or self.history.get(name):
            return
        self.history.pop(name, None)
        index = bisect.bisect_left(self.names, name)
        if index < len(self.names) and self.names[index] == name:
            del self.names[index]


class Blob:
    """One generation of a blob: the live one, a snapshot, a previous version or a deleted one."""

    __slots__ = (
        "name", "kind", "size", "etag", "created", "modified", "content_type", "content_encoding",
        "content_language", "content_disposition", "cache_control", "content_md5", "metadata", "tags",
        "tier", "tier_changed", "lease", "inline", "extents", "block_ids", "sequence", "pages", "sealed",
        "copy", "snapshot", "version", "deleted", "key",
    )  # fmt: skip

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.size = 0
        self.etag = new_etag()
        now = time.time()
        self.created = now
        self.modified = now
        self.content_type = "application/octet-stream"
        self.content_encoding = ""
        self.content_language = ""
        self.content_disposition = ""
        self.cache_control = ""
        self.content_md5 = ""
        """Base64, '' when unknown."""
        self.metadata: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.tier = ""
        """'' means the inferred default (Hot for block blobs)."""
        self.tier_changed = 0.0
        self.lease: Lease | None = None
        self.inline: bytes | None = None
        """Small content kept in the record itself, else None and the content is in ``extents``."""
        self.extents: list[list[Any]] = []
        """[file id, size] pieces laid end to end (page blobs: one sparse file)."""
        self.block_ids: list[str] = []
        """The committed block ids, parallel to ``extents`` (block blobs committed from a block list)."""
        self.sequence = 0
        self.pages: list[list[int]] = []
        """Written page ranges [start, end) of a page blob, sorted and disjoint."""
        self.sealed = False
        self.copy: dict[str, Any] | None = None
        self.snapshot = ""
        self.version = ""
        self.deleted = 0.0
        self.key = ""
        """Its key in the state backend."""

    def record(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "kind": self.kind,
            "size": self.size,
            "etag": self.etag,
            "created": self.created,
            "modified": self.modified,
            "ct": self.content_type,
            "md5": self.content_md5,
        }
        for name, field in (
            ("ce", self.content_encoding),
            ("cl", self.content_language),
            ("cd", self.content_disposition),
            ("cc", self.cache_control),
            ("meta", self.metadata),
            ("tags", self.tags),
            ("tier", self.tier),
            ("tierat", self.tier_changed),
            ("blocks", self.block_ids),
            ("seq", self.sequence),
            ("pages", self.pages),
            ("sealed", self.sealed),
            ("copy", self.copy),
            ("snap", self.snapshot),
            ("ver", self.version),
            ("del", self.deleted),
            ("extents", self.extents),
        ):
            if field:
                value[name] = field
        if self.lease is not None:
            value["lease"] = self.lease.record()
        if self.inline is not None:
            value["inline"] = base64.b64encode(self.inline).decode()
        return value

    @classmethod
    def from_record(cls, name: str, key: str, value: dict[str, Any]) -> Blob:
        blob = cls(name, value["kind"])
        blob.key = key
        blob.size = value["size"]
        blob.etag = value["etag"]
        blob.created = value["created"]
        blob.modified = value["modified"]
        blob.content_type = value.get("ct", "")
        blob.content_md5 = value.get("md5", "")
        blob.content_encoding = value.get("ce", "")
        blob.content_language = value.get("cl", "")
        blob.content_disposition = value.get("cd", "")
        blob.cache_control = value.get("cc", "")
        blob.metadata = dict(value.get("meta") or {})
        blob.tags = dict(value.get("tags") or {})
        blob.tier = value.get("tier", "")
        blob.tier_changed = value.get("tierat", 0.0)
        blob.block_ids = list(value.get("blocks") or [])
        blob.sequence = value.get("seq", 0)
        blob.pages = [list(p) for p in value.get("pages") or []]
        blob.sealed = value.get("sealed", False)
        blob.copy = value.get("copy")
        blob.snapshot = value.get("snap", "")
        blob.version = value.get("ver", "")
        blob.deleted = value.get("del", 0.0)
        blob.extents = [list(e) for e in value.get("extents") or []]
        blob.lease = Lease.from_record(value.get("lease"))
        inline = value.get("inline")
        blob.inline = base64.b64decode(inline) if inline is not None else None
        return blob

    def clone(self) -> Blob:
        """A copy sharing nothing mutable (content pieces are shared by reference count)."""
        other = Blob(self.name, self.kind)
        for slot in Blob.__slots__:
            setattr(other, slot, getattr(self, slot))
        other.metadata = dict(self.metadata)
        other.tags = dict(self.tags)
        other.extents = [list(e) for e in self.extents]
        other.block_ids = list(self.block_ids)
        other.pages = [list(p) for p in self.pages]
        other.copy = dict(self.copy) if self.copy else None
        other.lease = None
        return other

    def file_ids(self) -> list[str]:
        return [extent[0] for extent in self.extents]
