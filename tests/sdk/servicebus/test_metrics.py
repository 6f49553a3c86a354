"""The broker's message counters at the control plane's ``/_localzure/metrics``, driven by the real SDK."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.management import ServiceBusAdministrationClient
from prometheus_client.parser import text_string_to_metric_families

from controlplane.registry import discover
from controlplane.testing.server import LocalZureThread
from tests.sdk.servicebus.support import TopicFactory, receive
from tests.support import StandaloneEmulator, wait_for

NAMESPACE = "localzure"
"""The namespace name when the config names none."""


def scrape(localzure: LocalZureThread, entity: str) -> dict[str, float]:
    """``entity``'s Service Bus samples, by sample name (plus ``:reason`` for dead-letters)."""
    text = httpx.get(f"http://127.0.0.1:{localzure.edge_port}/_localzure/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("localzure_servicebus_") and sample.labels.get("entity") == entity:
                assert sample.labels["namespace"] == NAMESPACE
                reason = sample.labels.get("reason")
                found[sample.name + (f":{reason}" if reason else "")] = sample.value
    return found


def test_sends_deliveries_completions_dead_letters_and_a_lost_lock_are_counted_per_queue(
    localzure: LocalZureThread, client: ServiceBusClient, queue: str
) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(5)])
    with client.get_queue_receiver(queue) as receiver:
        first, second, bad, slow = receive(receiver, 4)
        receiver.complete_message(first)
        receiver.complete_message(second)
        receiver.dead_letter_message(bad, reason="unparseable", error_description="not JSON")

        def after_the_lock_loss() -> dict[str, float] | None:
            # ``slow`` is never settled: its 5 s lock runs out and the broker takes it back.
            counted = scrape(localzure, queue)
            return counted if counted["localzure_servicebus_lock_losses_total"] else None

        counted = wait_for(after_the_lock_loss, 15)

    assert counted == {
        "localzure_servicebus_messages_sent_total": 5,
        "localzure_servicebus_messages_delivered_total": 4,
        "localzure_servicebus_messages_completed_total": 2,
        "localzure_servicebus_messages_dead_lettered_total:client": 1,
        "localzure_servicebus_lock_losses_total": 1,
    }
    assert scrape(localzure, f"{queue}/$DeadLetterQueue") == {
        "localzure_servicebus_messages_delivered_total": 0,
        "localzure_servicebus_messages_completed_total": 0,
        "localzure_servicebus_lock_losses_total": 0,
    }


def test_a_topics_sends_and_its_subscriptions_receipts_are_counted_apart(
    localzure: LocalZureThread, client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    admin.create_subscription(topic, "audit")
    with client.get_topic_sender(topic) as sender:
        sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
    with client.get_subscription_receiver(
        topic, "audit", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
    ) as receiver:
        assert len(receive(receiver, 2)) == 2

    assert scrape(localzure, topic) == {"localzure_servicebus_messages_sent_total": 2}
    assert scrape(localzure, f"{topic}/Subscriptions/audit") == {
        "localzure_servicebus_messages_delivered_total": 2,
        "localzure_servicebus_messages_completed_total": 2,
        "localzure_servicebus_lock_losses_total": 0,
    }


class Emulator(StandaloneEmulator):
    service = "servicebus"

    def answering(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True


@pytest.fixture
def apart(tmp_path: Path) -> Iterator[LocalZureThread]:
    """Service Bus in its own process, as its container runs it, with a control plane in front
    (external mode: the same forwarding as Docker mode, without the engine)."""
    emulator = Emulator(tmp_path / "servicebus", "--in-memory")
    emulator.start()
    others = {name: {"enabled": False} for name in discover() if name != "servicebus"}
    control_plane = LocalZureThread(
        tmp_path / "controlplane",
        mode="external",
        services={**others, "servicebus": {"port": 0, "endpoint": f"http://127.0.0.1:{emulator.port}"}},
    )
    control_plane.start()
    yield control_plane
    control_plane.stop()
    emulator.stop()


def test_a_service_bus_in_its_own_process_reports_its_counts_to_the_control_plane(apart: LocalZureThread) -> None:
    with ServiceBusAdministrationClient.from_connection_string(
        apart.connection_string("servicebus"), connection_verify=str(apart.ca_file)
    ) as admin:
        admin.create_queue("orders")
    with ServiceBusClient.from_connection_string(apart.connection_string("servicebus")) as client:
        with client.get_queue_sender("orders") as sender:
            sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b"), ServiceBusMessage("c")])
        with client.get_queue_receiver("orders") as receiver:
            for message in receive(receiver, 2):
                receiver.complete_message(message)

    assert scrape(apart, "orders") == {
        "localzure_servicebus_messages_sent_total": 3,
        "localzure_servicebus_messages_delivered_total": 2,
        "localzure_servicebus_messages_completed_total": 2,
        "localzure_servicebus_lock_losses_total": 0,
    }
