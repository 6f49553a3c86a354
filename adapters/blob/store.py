"""Blob state: authoritative in memory, written through to the state backend.

Namespaces: ``containers`` (key: container id), ``blobs`` (``{cid}/{name}``: the live
generation), ``history`` (``{cid}/{name}\\x01{tag}``: snapshots, previous versions and
soft-deleted generations), ``blocks`` (``{cid}/{name}\\x01{block id}``: staged, uncommitted
blocks) and ``service`` (account -> service properties). Containers are keyed by an id, not
their name, so a soft-deleted container keeps its blobs while a new one takes the name.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.blob.content import ContentStore
from adapters.blob.errors import ContainerAlreadyExists
from adapters.blob.models import Blob, Container, new_etag
from adapters.storage.paging import page_names
from controlplane.state.backend import StateBackend

CONTAINERS = "containers"
BLOBS = "blobs"
HISTORY = "history"
BLOCKS = "blocks"
SERVICE = "service"
SEP = "\x01"
DAY = 86400.0


def version_stamp(moment: float) -> str:
    """Azure's snapshot / version id form: 2024-01-01T00:00:00.1234567Z."""
    t = datetime.fromtimestamp(moment, UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}0Z"


class BlobStore:
    def __init__(self, state: StateBackend, content: ContentStore, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.content = content
        self.clock = clock
        self.containers: dict[tuple[str, str], Container] = {}
        self.by_id: dict[str, Container] = {}
        self.deleted_containers: dict[tuple[str, str], list[Container]] = {}
        self._names: dict[str, list[str]] = {}
        self.blocks: dict[tuple[str, str], dict[str, list[Any]]] = {}
        """(container id, blob name) -> block id -> [file id, size] (staged, uncommitted)."""
        self.service_properties: dict[str, dict[str, Any]] = {}
        self._last_stamp = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        self.containers.clear()
        self.by_id.clear()
        self.deleted_containers.clear()
        self._names.clear()
        self.blocks.clear()
        self.content.refs.clear()
        self.service_properties = dict(self.state.load(SERVICE))
        for key, value in self.state.load(CONTAINERS):
            container = Container.from_record(key, value)
            self.by_id[key] = container
            if container.deleted:
                self.deleted_containers.setdefault((container.account, container.name), []).append(container)
            else:
                self.containers[(container.account, container.name)] = container
                self._names.setdefault(container.account, []).append(container.name)
        for names in self._names.values():
            names.sort()
        for key, value in self.state.load(BLOBS):
            cid, _, name = key.partition("/")
            owner = self.by_id.get(cid)
            if owner is None:
                self.state.delete(BLOBS, key)
                continue
            blob = Blob.from_record(name, key, value)
            owner.blobs[name] = blob
            owner.track(name)
            self.content.retain(blob.file_ids())
        for key, value in self.state.load(HISTORY):
            path, _, _ = key.partition(SEP)
            cid, _, name = path.partition("/")
            owner = self.by_id.get(cid)
            if owner is None:
                self.state.delete(HISTORY, key)
                continue
            blob = Blob.from_record(name, key, value)
            owner.history.setdefault(name, []).append(blob)
            owner.track(name)
            self.content.retain(blob.file_ids())
        for container in self.by_id.values():
            for generations in container.history.values():
                generations.sort(key=lambda b: (b.snapshot or b.version or "", b.deleted))
        for key, value in self.state.load(BLOCKS):
            path, _, block_id = key.partition(SEP)
            cid, _, name = path.partition("/")
            if cid not in self.by_id:
                self.state.delete(BLOCKS, key)
                continue
            self.blocks.setdefault((cid, name), {})[block_id] = list(value)
            self.content.retain([value[0]])
        self.content.sweep()

    def reset(self) -> None:
        self.containers.clear()
        self.by_id.clear()
        self.deleted_containers.clear()
        self._names.clear()
        self.blocks.clear()
        self.service_properties.clear()
        for namespace in (CONTAINERS, BLOBS, HISTORY, BLOCKS, SERVICE):
            self.state.delete_prefix(namespace, "")
        self.content.reset()

    def counts(self) -> dict[str, int]:
        return {
            "containers": len(self.containers),
            "blobs": sum(len(c.blobs) for c in self.containers.values()),
        }

    def stamp(self) -> str:
        """A fresh, strictly increasing snapshot/version time."""
        now = max(self.clock(), self._last_stamp + 1e-6)
        self._last_stamp = now
        return version_stamp(now)

    # -- service ----------------------------------------------------------------------------

    def get_service_properties(self, account: str) -> dict[str, Any]:
        return self.service_properties.get(account, {})

    def set_service_properties(self, account: str, properties: dict[str, Any]) -> None:
        self.service_properties[account] = properties
        self.state.put(SERVICE, account, properties)

    def soft_delete_days(self, account: str) -> int:
        policy = self.service_properties.get(account, {}).get("delete_retention") or {}
        return int(policy.get("days") or 0) if policy.get("enabled") else 0

    # -- containers -------------------------------------------------------------------------

    def create_container(self, account: str, name: str, metadata: dict[str, str], public: str) -> Container:
        if (account, name) in self.containers:
            raise ContainerAlreadyExists()
        container = Container(uuid.uuid4().hex, account, name, metadata, new_etag(), self.clock(), public)
        self.containers[(account, name)] = container
        self.by_id[container.id] = container
        bisect.insort(self._names.setdefault(account, []), name)
        self.save_container(container)
        return container

    def save_container(self, container: Container) -> None:
        self.state.put(CONTAINERS, container.id, container.record())

    def touch_container(self, container: Container) -> None:
        container.etag = new_etag()
        container.modified = self.clock()
        self.save_container(container)

    def delete_container(self, container: Container, retention_days: int) -> None:
        del self.containers[(container.account, container.name)]
        names = self._names[container.account]
        del names[bisect.bisect_left(names, container.name)]
        if retention_days > 0:
            container.deleted = self.clock()
            container.lease = None
            self.deleted_containers.setdefault((container.account, container.name), []).append(container)
            self.save_container(container)
            return
        self._purge_container(container)

    def _purge_container(self, container: Container) -> None:
        self.by_id.pop(container.id, None)
        for blob in container.blobs.values():
            self.content.release(blob.file_ids())
        for generations in container.history.values():
            for blob in generations:
                self.content.release(blob.file_ids())
        for key in [k for k in self.blocks if k[0] == container.id]:
            self.content.release([v[0] for v in self.blocks.pop(key).values()])
        self.state.delete(CONTAINERS, container.id)
        prefix = f"{container.id}/"
        for namespace in (BLOBS, HISTORY, BLOCKS):
            self.state.delete_prefix(namespace, prefix)

    def purge_deleted_containers(self, retention_days: Callable[[str], int]) -> None:
        now = self.clock()
        for key, generations in list(self.deleted_containers.items()):
            keep = []
            for container in generations:
                if container.deleted + max(retention_days(container.account), 1) * DAY <= now:
                    self._purge_container(container)
                else:
                    keep.append(container)
            if keep:
                self.deleted_containers[key] = keep
            else:
                del self.deleted_containers[key]

    def restore_container(self, account: str, name: str, version: str) -> Container:
        generations = self.deleted_containers.get((account, name), [])
        for container in generations:
            if container.id == version:
                break
        else:
            from adapters.blob.errors import ContainerNotFound

            raise ContainerNotFound()
        if (account, name) in self.containers:
            raise ContainerAlreadyExists()
        generations.remove(container)
        if not generations:
            del self.deleted_containers[(account, name)]
        container.deleted = 0.0
        self.containers[(account, name)] = container
        bisect.insort(self._names.setdefault(account, []), name)
        self.save_container(container)
        return container

    def list_containers(self, account: str, prefix: str, marker: str, limit: int) -> tuple[list[Container], str]:
        names, next_marker = page_names(self._names.get(account, []), prefix, marker, limit)
        return [self.containers[(account, name)] for name in names], next_marker

    def deleted_container_list(self, account: str, prefix: str) -> list[Container]:
        return sorted(
            (c for (a, n), cs in self.deleted_containers.items() if a == account and n.startswith(prefix) for c in cs),
            key=lambda c: (c.name, c.deleted),
        )

    def access_policy(self, account: str, resource: str, identifier: str) -> Mapping[str, str] | None:
        container = self.containers.get((account, resource.split("/", 1)[0]))
        if container is None:
            return None
        for entry in container.acl:
            if entry["id"] == identifier:
                return {k: v for k, v in entry.items() if k != "id"}
        return None

    # -- blobs ------------------------------------------------------------------------------

    def save_blob(self, container: Container, blob: Blob) -> None:
        self.state.put(HISTORY if blob.key.find(SEP) >= 0 else BLOBS, blob.key, blob.record())

    def commit(self, container: Container, blob: Blob, versioning: bool) -> Blob | None:
        """Make ``blob`` the live generation (its pieces already retained); returns the one it replaced."""
        name = blob.name
        previous = container.blobs.get(name)
        blob.key = f"{container.id}/{name}"
        if versioning:
            blob.version = self.stamp()
        if previous is not None:
            blob.created = previous.created
            if previous.version and versioning:
                self._to_history(container, previous, "v" + previous.version)
            else:
                self.content.release(previous.file_ids())
        container.blobs[name] = blob
        container.track(name)
        self.state.put(BLOBS, blob.key, blob.record())
        self.discard_blocks(container, name)
        return previous

    def _to_history(self, container: Container, blob: Blob, tag: str) -> None:
        blob.key = f"{container.id}/{blob.name}{SEP}{tag}"
        blob.lease = None
        container.history.setdefault(blob.name, []).append(blob)
        self.state.put(HISTORY, blob.key, blob.record())

    def add_snapshot(self, container: Container, blob: Blob) -> Blob:
        snapshot = blob.clone()
        snapshot.snapshot = self.stamp()
        self.content.retain(snapshot.file_ids())
        self._to_history(container, snapshot, "s" + snapshot.snapshot)
        return snapshot

    def drop(self, container: Container, blob: Blob) -> None:
        """Remove one generation for good (live or history) and release its content."""
        if container.blobs.get(blob.name) is blob:
            del container.blobs[blob.name]
            self.state.delete(BLOBS, blob.key)
            self.discard_blocks(container, blob.name)
        else:
            generations = container.history.get(blob.name, [])
            if blob in generations:
                generations.remove(blob)
            self.state.delete(HISTORY, blob.key)
        self.content.release(blob.file_ids())
        container.untrack_if_empty(blob.name)

    def soft_delete(self, container: Container, blob: Blob) -> None:
        """Keep a generation as soft-deleted history until its retention passes."""
        now = self.clock()
        if container.blobs.get(blob.name) is blob:
            del container.blobs[blob.name]
            self.state.delete(BLOBS, blob.key)
            blob.deleted = now
            self._to_history(container, blob, f"d{now:.6f}")
        else:
            blob.deleted = now
            self.state.put(HISTORY, blob.key, blob.record())

    def retire_current_version(self, container: Container, blob: Blob) -> None:
        """Delete with versioning on: the live blob becomes a previous version."""
        del container.blobs[blob.name]
        self.state.delete(BLOBS, blob.key)
        self._to_history(container, blob, "v" + blob.version)

    def undelete(self, container: Container, name: str) -> None:
        generations = container.history.get(name, [])
        deleted_base = [b for b in generations if b.deleted and not b.snapshot and not b.version]
        for blob in generations:
            if blob.deleted and blob.snapshot:
                blob.deleted = 0.0
                self.state.put(HISTORY, blob.key, blob.record())
        if deleted_base and name not in container.blobs:
            blob = deleted_base[-1]
            generations.remove(blob)
            self.state.delete(HISTORY, blob.key)
            blob.deleted = 0.0
            blob.key = f"{container.id}/{name}"
            container.blobs[name] = blob
            self.state.put(BLOBS, blob.key, blob.record())

    def purge_deleted_blobs(self, container: Container) -> None:
        days = self.soft_delete_days(container.account)
        now = self.clock()
        for name in list(container.history):
            for blob in list(container.history.get(name, [])):
                if blob.deleted and (days == 0 or blob.deleted + days * DAY <= now):
                    self.drop(container, blob)

    def generations(self, container: Container, name: str) -> Iterator[Blob]:
        yield from container.history.get(name, [])
        live = container.blobs.get(name)
        if live is not None:
            yield live

    # -- staged blocks ----------------------------------------------------------------------

    def stage_block(self, container: Container, name: str, block_id: str, file_id: str, size: int) -> None:
        staged = self.blocks.setdefault((container.id, name), {})
        old = staged.get(block_id)
        staged[block_id] = [file_id, size]
        self.content.retain([file_id])
        self.state.put(BLOCKS, f"{container.id}/{name}{SEP}{block_id}", [file_id, size])
        if old is not None:
            self.content.release([old[0]])

    def staged(self, container: Container, name: str) -> dict[str, list[Any]]:
        return self.blocks.get((container.id, name), {})

    def discard_blocks(self, container: Container, name: str) -> None:
        staged = self.blocks.pop((container.id, name), None)
        if staged:
            self.content.release([v[0] for v in staged.values()])
            self.state.delete_prefix(BLOCKS, f"{container.id}/{name}{SEP}")
