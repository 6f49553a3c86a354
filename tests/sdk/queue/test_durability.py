"""The standalone emulator (``python -m adapters.queue``): acknowledged writes survive kill -9."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from tests.support import WELL_KNOWN_KEY, StandaloneEmulator


class Emulator(StandaloneEmulator):
    service = "queue"

    def __init__(self, data_dir: Path, in_memory: bool = False) -> None:
        super().__init__(data_dir, *(["--in-memory"] if in_memory else []))

    def answering(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/devstoreaccount1/?comp=list", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def client(self) -> QueueServiceClient:
        return QueueServiceClient.from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={WELL_KNOWN_KEY};QueueEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emulator = Emulator(tmp_path / "data")
    yield emulator
    emulator.stop()


@pytest.mark.slow
def test_acknowledged_writes_survive_kill_9(emulator: Emulator) -> None:
    emulator.start()
    service = emulator.client()
    queue = service.create_queue("durable", metadata={"kept": "yes"})
    sent = [queue.send_message(f"m{i}") for i in range(20)]
    [received] = queue.receive_messages(visibility_timeout=600, max_messages=1)
    queue.delete_message(sent[1])
    emulator.kill()

    emulator.start()
    queue = emulator.client().get_queue_client("durable")
    props = queue.get_queue_properties()
    assert props.metadata == {"kept": "yes"}
    assert props.approximate_message_count == 19
    peeked = queue.peek_messages(max_messages=32)
    # m0 is still hidden by the receive before the kill; m1 was deleted.
    assert [m.content for m in peeked] == [f"m{i}" for i in range(2, 20)]
    # The receipt from before the kill still works: the dequeue itself was persisted.
    updated = queue.update_message(received.id, pop_receipt=received.pop_receipt, visibility_timeout=0)
    # Visible again now: it comes after the messages that became visible before it.
    last = queue.peek_messages(max_messages=32)[-1]
    assert last.id == sent[0].id
    assert last.dequeue_count == 1
    queue.delete_message(last.id, updated.pop_receipt)
    assert queue.get_queue_properties().approximate_message_count == 18


@pytest.mark.slow
def test_in_memory_mode_keeps_nothing(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "data", in_memory=True)
    try:
        emulator.start()
        emulator.client().create_queue("ephemeral").send_message("gone")
        assert [q.name for q in emulator.client().list_queues()] == ["ephemeral"]
        emulator.kill()
        emulator.start()
        assert [q.name for q in emulator.client().list_queues()] == []
        assert not (tmp_path / "data" / "queue" / "state.sqlite").exists()
    finally:
        emulator.stop()
