"""The queue store: visibility, expiry, dequeue counts and reload from SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.queue.errors import MessageNotFound, PopReceiptMismatch, QueueAlreadyExists, QueueNotFound
from adapters.queue.store import NEVER, QueueStore
from controlplane.state.memory import MemoryBackend
from controlplane.state.sqlite import SqliteBackend

DAY = 24 * 3600


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> QueueStore:
    store = QueueStore(MemoryBackend(), clock=clock)
    store.create("acct", "q", {})
    return store


def test_create_is_idempotent_with_same_metadata_and_conflicts_otherwise(store: QueueStore) -> None:
    assert store.create("acct", "other", {"a": "1"}) is True
    assert store.create("acct", "other", {"a": "1"}) is False
    with pytest.raises(QueueAlreadyExists):
        store.create("acct", "other", {"a": "2"})


def test_missing_queue_raises(store: QueueStore) -> None:
    with pytest.raises(QueueNotFound):
        store.get("acct", "nope")
    with pytest.raises(QueueNotFound):
        store.get("other-account", "q")


def test_get_hides_message_for_visibility_timeout(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "one", 0, DAY)
    [got] = store.get_messages(queue, 32, 30)
    assert got.xml_text == "one"
    assert got.dequeues == 1
    assert store.get_messages(queue, 32, 30) == []
    clock.advance(29.9)
    assert store.get_messages(queue, 32, 30) == []
    clock.advance(0.2)
    [again] = store.get_messages(queue, 32, 30)
    assert again.id == got.id
    assert again.dequeues == 2


def test_put_with_visibility_delay(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "later", 10, DAY)
    assert store.peek_messages(queue, 32) == []
    clock.advance(10)
    assert [m.xml_text for m in store.peek_messages(queue, 32)] == ["later"]


def test_messages_come_out_in_insertion_order_and_peek_does_not_consume(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    for i in range(5):
        store.put_message(queue, f"m{i}", 0, DAY)
        clock.advance(0.001)
    assert [m.xml_text for m in store.peek_messages(queue, 3)] == ["m0", "m1", "m2"]
    assert [m.xml_text for m in store.peek_messages(queue, 32)] == [f"m{i}" for i in range(5)]
    assert all(m.dequeues == 0 for m in store.peek_messages(queue, 32))
    assert [m.xml_text for m in store.get_messages(queue, 2, 30)] == ["m0", "m1"]
    assert [m.xml_text for m in store.peek_messages(queue, 32)] == ["m2", "m3", "m4"]


def test_each_get_issues_a_new_pop_receipt(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    put = store.put_message(queue, "x", 0, DAY)
    first_receipt = put.receipt
    [got] = store.get_messages(queue, 1, 1)
    assert got.receipt != first_receipt
    with pytest.raises(PopReceiptMismatch):
        store.delete_message(queue, got.id, first_receipt)
    store.delete_message(queue, got.id, got.receipt)
    with pytest.raises(MessageNotFound):
        store.delete_message(queue, got.id, got.receipt)


def test_update_changes_visibility_text_and_receipt(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "old", 0, DAY)
    [got] = store.get_messages(queue, 1, 60)
    old_receipt = got.receipt
    updated = store.update_message(queue, got.id, old_receipt, 0, "new")
    assert updated.receipt != old_receipt
    with pytest.raises(PopReceiptMismatch):
        store.delete_message(queue, got.id, old_receipt)
    [seen] = store.peek_messages(queue, 1)
    assert seen.xml_text == "new"
    assert seen.dequeues == 1
    # The heap entry pushed by the get (visible in 60s) is stale now and must not resurface twice.
    clock.advance(61)
    assert len(store.get_messages(queue, 32, 30)) == 1
    assert store.get_messages(queue, 32, 30) == []


def test_stale_receipt_after_another_dequeue(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "x", 0, DAY)
    [first] = store.get_messages(queue, 1, 1)
    stale = first.receipt
    clock.advance(2)
    [second] = store.get_messages(queue, 1, 1)
    with pytest.raises(PopReceiptMismatch):
        store.update_message(queue, second.id, stale, 0, None)


def test_expired_messages_are_never_returned_and_are_purged(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "short", 0, 5)
    keep = store.put_message(queue, "forever", 0, -1)
    assert keep.expires == NEVER
    assert store.message_count(queue) == 2
    clock.advance(5)
    assert [m.xml_text for m in store.peek_messages(queue, 32)] == ["forever"]
    assert store.message_count(queue) == 1
    clock.advance(10 * 365 * DAY)
    assert [m.xml_text for m in store.get_messages(queue, 32, 30)] == ["forever"]


def test_expired_message_cannot_be_deleted(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    put = store.put_message(queue, "short", 0, 5)
    clock.advance(6)
    with pytest.raises(MessageNotFound):
        store.delete_message(queue, put.id, put.receipt)


def test_purge_all_expired_counts(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.create("acct", "q2", {})
    other = store.get("acct", "q2")
    store.put_message(queue, "a", 0, 1)
    store.put_message(other, "b", 0, 1)
    store.put_message(other, "c", 0, 100)
    clock.advance(2)
    assert store.purge_all_expired() == 2
    assert store.counts() == {"queues": 2, "messages": 1}


def test_clear_and_delete_queue(store: QueueStore) -> None:
    queue = store.get("acct", "q")
    for i in range(3):
        store.put_message(queue, str(i), 0, DAY)
    store.clear(queue)
    assert store.message_count(queue) == 0
    assert store.get_messages(queue, 32, 30) == []
    store.delete("acct", "q")
    with pytest.raises(QueueNotFound):
        store.get("acct", "q")


def test_list_pages_with_prefix_and_marker(store: QueueStore) -> None:
    for name in ("b1", "a2", "a1", "a3"):
        store.create("acct", name, {})
    page, marker = store.page("acct", "a", "", 2)
    assert [q.name for q in page] == ["a1", "a2"]
    assert marker == "a3"
    page, marker = store.page("acct", "a", marker, 2)
    assert [q.name for q in page] == ["a3"]
    assert marker == ""
    assert [q.name for q in store.page("acct", "", "", 100)[0]] == ["a1", "a2", "a3", "b1", "q"]


def test_heaps_are_compacted(store: QueueStore, clock: Clock) -> None:
    queue = store.get("acct", "q")
    store.put_message(queue, "x", 0, DAY)
    for _ in range(5000):
        [got] = store.get_messages(queue, 1, 30)
        store.update_message(queue, got.id, got.receipt, 0, None)
    assert len(queue.by_visibility) < 2 * len(queue.messages) + 2000


def test_access_policy_lookup(store: QueueStore) -> None:
    queue = store.get("acct", "q")
    store.set_acl(queue, [{"id": "p1", "permission": "r", "expiry": "2030-01-01T00:00:00.0000000Z"}])
    assert store.access_policy("acct", "q", "p1") == {"permission": "r", "expiry": "2030-01-01T00:00:00.0000000Z"}
    assert store.access_policy("acct", "q", "p2") is None
    assert store.access_policy("acct", "missing", "p1") is None


def test_reset_wipes_everything(store: QueueStore) -> None:
    store.put_message(store.get("acct", "q"), "x", 0, DAY)
    store.set_service_properties("acct", {"cors": []})
    store.reset()
    assert store.counts() == {"queues": 0, "messages": 0}
    assert store.get_service_properties("acct") == {}


def _reopen(path: Path, clock: Clock) -> tuple[SqliteBackend, QueueStore]:
    backend = SqliteBackend(path)
    store = QueueStore(backend, clock=clock)
    store.load()
    return backend, store


def test_state_survives_reload_from_sqlite(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    backend, store = _reopen(path, clock)
    store.create("acct", "persisted", {"owner": "me"})
    queue = store.get("acct", "persisted")
    store.set_acl(queue, [{"id": "p", "permission": "ra"}])
    store.set_service_properties("acct", {"cors": [{"allowed_origins": "*"}]})
    kept = store.put_message(queue, "kept &amp; escaped", 0, DAY)
    forever = store.put_message(queue, "forever", 0, -1)
    gone = store.put_message(queue, "gone", 0, DAY)
    store.delete_message(queue, gone.id, gone.receipt)
    [dequeued] = store.get_messages(queue, 1, 60)
    assert dequeued.id == kept.id
    asyncio.run(backend.flush())
    backend.close()

    backend, reloaded = _reopen(path, clock)
    try:
        queue = reloaded.get("acct", "persisted")
        assert queue.metadata == {"owner": "me"}
        assert reloaded.access_policy("acct", "persisted", "p") == {"permission": "ra"}
        assert reloaded.get_service_properties("acct") == {"cors": [{"allowed_origins": "*"}]}
        assert set(queue.messages) == {kept.id, forever.id}
        assert queue.messages[forever.id].expires == NEVER
        restored = queue.messages[kept.id]
        assert restored.dequeues == 1
        assert restored.receipt == dequeued.receipt
        assert restored.xml_text == "kept &amp; escaped"
        # Still invisible after the restart, visible once its timeout passes.
        assert [m.id for m in reloaded.peek_messages(queue, 32)] == [forever.id]
        clock.advance(61)
        assert {m.id for m in reloaded.peek_messages(queue, 32)} == {kept.id, forever.id}
        reloaded.delete_message(queue, kept.id, dequeued.receipt)
        reloaded.delete("acct", "persisted")
        asyncio.run(backend.flush())
    finally:
        backend.close()

    backend, empty = _reopen(path, clock)
    try:
        assert empty.counts() == {"queues": 0, "messages": 0}
    finally:
        backend.close()
