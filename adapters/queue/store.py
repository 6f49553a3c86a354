"""Queue state: authoritative in memory, written through to the state backend.

Each queue keeps its messages in a dict by id plus two heaps: one by the time a message
next becomes visible (what GetMessages pops) and one by expiry (what the purge pops).
Heap entries are never removed in place: an entry is valid only while its sequence
number is the message's current one, so a dequeue, update or delete costs O(log n)
and stale entries are dropped when they reach the top (lazy invalidation).
"""

from __future__ import annotations

import base64
import bisect
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from adapters.queue.errors import MessageNotFound, PopReceiptMismatch, QueueAlreadyExists, QueueNotFound
from adapters.storage.paging import page_names
from controlplane.ids import new_guid, random_bytes
from controlplane.state.backend import StateBackend

QUEUES = "queues"
MESSAGES = "messages"
SERVICE = "service"

NEVER = float("inf")
"""The expiry of a message put with ``messagettl=-1``."""

# Rebuild a heap once stale entries outnumber live ones by this much.
_COMPACT_SLACK = 1024


def new_pop_receipt() -> str:
    return base64.urlsafe_b64encode(random_bytes(12)).decode()


def new_message_id() -> str:
    return new_guid()


class Message:
    __slots__ = ("id", "xml_text", "inserted", "expires", "visible", "dequeues", "receipt", "seq", "deleted")

    def __init__(
        self,
        id: str,
        xml_text: str,
        inserted: float,
        expires: float,
        visible: float,
        dequeues: int,
        receipt: str,
        seq: int,
    ) -> None:
        self.id = id
        self.xml_text = xml_text
        """The message text, already XML-escaped: responses embed it as is."""
        self.inserted = inserted
        self.expires = expires
        self.visible = visible
        self.dequeues = dequeues
        self.receipt = receipt
        self.seq = seq
        """The sequence number of this message's one valid entry in the visibility heap."""
        self.deleted = False

    def record(self) -> list[Any]:
        expires = None if self.expires == NEVER else self.expires
        return [self.xml_text, self.inserted, expires, self.visible, self.dequeues, self.receipt]


class Queue:
    __slots__ = ("account", "name", "metadata", "acl", "messages", "by_visibility", "by_expiry", "prefix")

    def __init__(
        self, account: str, name: str, metadata: dict[str, str], acl: list[dict[str, str]] | None = None
    ) -> None:
        self.account = account
        self.name = name
        self.metadata = metadata
        self.acl: list[dict[str, str]] = acl or []
        self.messages: dict[str, Message] = {}
        self.by_visibility: list[tuple[float, int, Message]] = []
        self.by_expiry: list[tuple[float, int, Message]] = []
        self.prefix = f"{account}/{name}/"
        """The key prefix of this queue's messages in the state backend."""

    def record(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "acl": self.acl}


class QueueStore:
    def __init__(self, state: StateBackend, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self.queues: dict[tuple[str, str], Queue] = {}
        self._names: dict[str, list[str]] = {}
        """Account -> its queue names, sorted (what ListQueues pages through)."""
        self.service_properties: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count()

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild the in-memory state from the backend."""
        self.queues.clear()
        self._names.clear()
        self.service_properties = dict(self.state.load(SERVICE))
        for key, value in self.state.load(QUEUES):
            account, _, name = key.partition("/")
            queue = Queue(account, name, dict(value.get("metadata") or {}), list(value.get("acl") or []))
            self.queues[(account, name)] = queue
            self._names.setdefault(account, []).append(name)
        for names in self._names.values():
            names.sort()
        orphans: list[str] = []
        for key, value in self.state.load(MESSAGES):
            account, name, message_id = key.split("/", 2)
            owner = self.queues.get((account, name))
            if owner is None:
                orphans.append(key)
                continue
            xml_text, inserted, expires, visible, dequeues, receipt = value
            message = Message(
                message_id,
                xml_text,
                inserted,
                NEVER if expires is None else expires,
                visible,
                dequeues,
                receipt,
                next(self._seq),
            )
            owner.messages[message_id] = message
        for key in orphans:
            self.state.delete(MESSAGES, key)
        for queue in self.queues.values():
            self._rebuild_heaps(queue)

    def reset(self) -> None:
        self.queues.clear()
        self._names.clear()
        self.service_properties.clear()
        for namespace in (QUEUES, MESSAGES, SERVICE):
            self.state.delete_prefix(namespace, "")

    def counts(self) -> dict[str, int]:
        return {"queues": len(self.queues), "messages": sum(len(q.messages) for q in self.queues.values())}

    # -- service ---------------------------------------------------------------------------

    def get_service_properties(self, account: str) -> dict[str, Any]:
        return self.service_properties.get(account, {})

    def set_service_properties(self, account: str, properties: dict[str, Any]) -> None:
        self.service_properties[account] = properties
        self.state.put(SERVICE, account, properties)

    # -- queues ----------------------------------------------------------------------------

    def get(self, account: str, name: str) -> Queue:
        queue = self.queues.get((account, name))
        if queue is None:
            raise QueueNotFound()
        return queue

    def create(self, account: str, name: str, metadata: dict[str, str]) -> bool:
        """True when created; False when it exists with the same metadata; else QueueAlreadyExists."""
        existing = self.queues.get((account, name))
        if existing is not None:
            if existing.metadata == metadata:
                return False
            raise QueueAlreadyExists()
        queue = Queue(account, name, metadata)
        self.queues[(account, name)] = queue
        bisect.insort(self._names.setdefault(account, []), name)
        self.state.put(QUEUES, f"{account}/{name}", queue.record())
        return True

    def delete(self, account: str, name: str) -> None:
        queue = self.get(account, name)
        del self.queues[(account, name)]
        names = self._names[account]
        del names[bisect.bisect_left(names, name)]
        for message in queue.messages.values():
            message.deleted = True
        self.state.delete(QUEUES, f"{account}/{name}")
        self.state.delete_prefix(MESSAGES, queue.prefix)

    def page(self, account: str, prefix: str, marker: str, limit: int) -> tuple[list[Queue], str]:
        """Up to ``limit`` queues named ``prefix``* from ``marker`` on, and the next marker ('' at the end)."""
        names, next_marker = page_names(self._names.get(account, []), prefix, marker, limit)
        return [self.queues[(account, name)] for name in names], next_marker

    def set_metadata(self, queue: Queue, metadata: dict[str, str]) -> None:
        queue.metadata = metadata
        self.state.put(QUEUES, f"{queue.account}/{queue.name}", queue.record())

    def set_acl(self, queue: Queue, acl: list[dict[str, str]]) -> None:
        queue.acl = acl
        self.state.put(QUEUES, f"{queue.account}/{queue.name}", queue.record())

    def access_policy(self, account: str, name: str, identifier: str) -> Mapping[str, str] | None:
        queue = self.queues.get((account, name))
        if queue is None:
            return None
        for entry in queue.acl:
            if entry["id"] == identifier:
                return {k: v for k, v in entry.items() if k != "id"}
        return None

    def message_count(self, queue: Queue) -> int:
        self.purge_expired(queue, self.clock())
        return len(queue.messages)

    # -- messages --------------------------------------------------------------------------

    def put_message(self, queue: Queue, xml_text: str, visibility: int, ttl: int) -> Message:
        """``ttl`` -1 means the message never expires."""
        now = self.clock()
        self.purge_expired(queue, now)
        expires = NEVER if ttl == -1 else now + ttl
        seq = next(self._seq)
        message = Message(new_message_id(), xml_text, now, expires, now + visibility, 0, new_pop_receipt(), seq)
        queue.messages[message.id] = message
        heapq.heappush(queue.by_visibility, (message.visible, seq, message))
        if expires != NEVER:
            heapq.heappush(queue.by_expiry, (expires, seq, message))
        self.state.put(MESSAGES, queue.prefix + message.id, message.record())
        return message

    def get_messages(self, queue: Queue, count: int, visibility: int) -> list[Message]:
        """Dequeue up to ``count`` visible messages, hiding each for ``visibility`` seconds."""
        now = self.clock()
        self.purge_expired(queue, now)
        taken: list[Message] = []
        heap = queue.by_visibility
        while len(taken) < count:
            message = self._pop_visible(queue, now)
            if message is None:
                break
            seq = next(self._seq)
            message.seq = seq
            message.visible = now + visibility
            message.dequeues += 1
            message.receipt = new_pop_receipt()
            heapq.heappush(heap, (message.visible, seq, message))
            self.state.put(MESSAGES, queue.prefix + message.id, message.record())
            taken.append(message)
        self._maybe_compact(queue)
        return taken

    def peek_messages(self, queue: Queue, count: int) -> list[Message]:
        now = self.clock()
        self.purge_expired(queue, now)
        seen: list[Message] = []
        while len(seen) < count:
            message = self._pop_visible(queue, now)
            if message is None:
                break
            seen.append(message)
        # Their entries were popped only to read them in order: put them back unchanged.
        for message in seen:
            heapq.heappush(queue.by_visibility, (message.visible, message.seq, message))
        return seen

    def update_message(
        self, queue: Queue, message_id: str, receipt: str, visibility: int, xml_text: str | None
    ) -> Message:
        now = self.clock()
        message = self._find(queue, message_id, receipt, now)
        seq = next(self._seq)
        message.seq = seq
        message.visible = now + visibility
        message.receipt = new_pop_receipt()
        if xml_text is not None:
            message.xml_text = xml_text
        heapq.heappush(queue.by_visibility, (message.visible, seq, message))
        self.state.put(MESSAGES, queue.prefix + message.id, message.record())
        self._maybe_compact(queue)
        return message

    def delete_message(self, queue: Queue, message_id: str, receipt: str) -> None:
        message = self._find(queue, message_id, receipt, self.clock())
        self._remove(queue, message)

    def clear(self, queue: Queue) -> None:
        for message in queue.messages.values():
            message.deleted = True
        queue.messages.clear()
        queue.by_visibility.clear()
        queue.by_expiry.clear()
        self.state.delete_prefix(MESSAGES, queue.prefix)

    def purge_expired(self, queue: Queue, now: float) -> int:
        heap = queue.by_expiry
        purged = 0
        while heap and heap[0][0] <= now:
            message = heapq.heappop(heap)[2]
            if not message.deleted:
                self._remove(queue, message)
                purged += 1
        return purged

    def purge_all_expired(self) -> int:
        now = self.clock()
        return sum(self.purge_expired(queue, now) for queue in list(self.queues.values()))

    # -- internals -------------------------------------------------------------------------

    def _find(self, queue: Queue, message_id: str, receipt: str, now: float) -> Message:
        message = queue.messages.get(message_id)
        if message is None:
            raise MessageNotFound()
        if message.expires <= now:
            self._remove(queue, message)
            raise MessageNotFound()
        if message.receipt != receipt:
            raise PopReceiptMismatch()
        return message

    def _pop_visible(self, queue: Queue, now: float) -> Message | None:
        """Pop the earliest-visible live message if it is visible now (its entry leaves the heap)."""
        heap = queue.by_visibility
        while heap:
            visible, seq, message = heap[0]
            if message.deleted or message.seq != seq:
                heapq.heappop(heap)
                continue
            if visible > now:
                return None
            heapq.heappop(heap)
            if message.expires <= now:
                self._remove(queue, message)
                continue
            return message
        return None

    def _remove(self, queue: Queue, message: Message) -> None:
        message.deleted = True
        del queue.messages[message.id]
        self.state.delete(MESSAGES, queue.prefix + message.id)

    def _maybe_compact(self, queue: Queue) -> None:
        live = len(queue.messages)
        if len(queue.by_visibility) > 2 * live + _COMPACT_SLACK or len(queue.by_expiry) > 2 * live + _COMPACT_SLACK:
            self._rebuild_heaps(queue)

    @staticmethod
    def _rebuild_heaps(queue: Queue) -> None:
        messages: Iterable[Message] = queue.messages.values()
        queue.by_visibility = [(m.visible, m.seq, m) for m in messages]
        heapq.heapify(queue.by_visibility)
        queue.by_expiry = [(m.expires, m.seq, m) for m in queue.messages.values() if m.expires != NEVER]
        heapq.heapify(queue.by_expiry)
