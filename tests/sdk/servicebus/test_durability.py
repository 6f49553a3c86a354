"""The standalone emulator (``python -m adapters.servicebus``): what the broker acknowledged
survives kill -9, and nothing it acknowledged as settled comes back."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.management import ServiceBusAdministrationClient, SqlRuleFilter

from tests.sdk.servicebus.support import receive
from tests.support import StandaloneEmulator


class Crashable(Protocol):
    """What the test needs of the emulator: clients, a kill -9, and a start (again).
    tests/docker/servicebus gives the same test the emulator as a container."""

    def start(self) -> None: ...

    def kill(self) -> None: ...

    def admin(self) -> ServiceBusAdministrationClient: ...

    def client(self) -> ServiceBusClient: ...


class Emulator(StandaloneEmulator):
    service = "servicebus"

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )

    def answering(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return (self.data_dir / "tls" / "ca.pem").is_file()

    def admin(self) -> ServiceBusAdministrationClient:
        return ServiceBusAdministrationClient.from_connection_string(
            self.connection_string, connection_verify=str(self.data_dir / "tls" / "ca.pem")
        )

    def client(self) -> ServiceBusClient:
        return ServiceBusClient.from_connection_string(self.connection_string)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emulator = Emulator(tmp_path / "data")
    yield emulator
    emulator.stop()


@pytest.mark.slow
def test_acknowledged_messages_and_settlements_survive_kill_9(emulator: Crashable) -> None:
    emulator.start()
    with emulator.admin() as admin:
        admin.create_queue("durable", max_delivery_count=5, lock_duration=timedelta(minutes=5))
        admin.create_queue("sessions", requires_session=True)
        admin.create_topic("events")
        admin.create_subscription("events", "big")
        admin.delete_rule("events", "big", "$Default")
        admin.create_rule("events", "big", "over-10", filter=SqlRuleFilter("n > 10"))

    with emulator.client() as client:
        with client.get_queue_sender("durable") as sender:
            sender.send_messages([ServiceBusMessage(f"m{i}", message_id=f"id-{i}") for i in range(30)])
            [scheduled] = sender.schedule_messages(ServiceBusMessage("later"), datetime.now(UTC) + timedelta(hours=1))
        with client.get_queue_receiver("durable") as receiver:
            received = receive(receiver, 15)
            assert [str(m) for m in received] == [f"m{i}" for i in range(15)]
            for message in received[:10]:
                receiver.complete_message(message)
            receiver.dead_letter_message(received[10], reason="bad", error_description="kept across the crash")
            receiver.defer_message(received[11])
            deferred = received[11].sequence_number
            receiver.abandon_message(received[12])
            # m13 and m14 stay locked when the process dies.
        with client.get_queue_receiver("durable", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
            # After the abandoned m12 (delivery count 1), the next two: m12 and m15 are gone for good.
            assert [str(m) for m in receive(receiver, 2)] == ["m12", "m15"]
        with client.get_queue_sender("sessions") as sender:
            sender.send_messages([ServiceBusMessage(f"s{i}", session_id="cart") for i in range(3)])
        with client.get_queue_receiver("sessions", session_id="cart") as receiver:
            receiver.session.set_state(b"checkout-step-2")
            [first] = receive(receiver, 1)
            receiver.complete_message(first)
        with client.get_topic_sender("events") as sender:
            sender.send_messages([ServiceBusMessage(str(n), application_properties={"n": n}) for n in (5, 50, 500)])

    emulator.kill()
    emulator.start()

    with emulator.admin() as admin:
        queue = admin.get_queue("durable")
        assert (queue.max_delivery_count, queue.lock_duration) == (5, timedelta(minutes=5))
        runtime = admin.get_queue_runtime_properties("durable")
        # 30 sent - 10 completed - 1 dead-lettered - 2 received and deleted.
        assert runtime.active_message_count == 17
        assert runtime.dead_letter_message_count == 1
        assert runtime.scheduled_message_count == 1
        assert [r.name for r in admin.list_rules("events", "big")] == ["over-10"]

    with emulator.client() as client:
        with client.get_queue_receiver("durable") as receiver:
            peeked = receiver.peek_messages(max_message_count=50, sequence_number=1)
            assert [str(m) for m in peeked] == ["m11", "m13", "m14", *(f"m{i}" for i in range(16, 30)), "later"]
            assert peeked[-1].sequence_number == scheduled
            # Locks live in memory: m13 and m14 are available again, their delivery counted.
            again = receive(receiver, 16)
            assert [str(m) for m in again] == ["m13", "m14", *(f"m{i}" for i in range(16, 30))]
            assert [m.delivery_count for m in again[:3]] == [1, 1, 0]
            assert [m.message_id for m in again[2:]] == [f"id-{i}" for i in range(16, 30)]
            for message in again:
                receiver.complete_message(message)
            [late] = receiver.receive_deferred_messages([deferred])
            assert str(late) == "m11"
            receiver.complete_message(late)
            assert receiver.receive_messages(max_wait_time=0.5) == []
        with client.get_queue_receiver("durable", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            [dead] = receive(receiver, 1)
            assert (str(dead), dead.dead_letter_reason, dead.dead_letter_error_description) == (
                "m10",
                "bad",
                "kept across the crash",
            )
            receiver.complete_message(dead)
        with client.get_queue_receiver("sessions", session_id="cart") as receiver:
            assert receiver.session.get_state() == b"checkout-step-2"
            assert [str(m) for m in receive(receiver, 2)] == ["s1", "s2"]
        with client.get_subscription_receiver("events", "big") as receiver:
            assert [str(m) for m in receive(receiver, 2)] == ["50", "500"]
            assert receiver.receive_messages(max_wait_time=0.5) == []

    # Sequence numbers go on from where they were, never reused.
    with emulator.client() as client, client.get_queue_sender("durable") as sender:
        assert (
            sender.schedule_messages(ServiceBusMessage("next"), datetime.now(UTC) + timedelta(hours=1))[0] > scheduled
        )
