"""The admin API reports each Service Bus entity's counts and the broker's counters."""

from __future__ import annotations

import httpx
from azure.servicebus import ServiceBusClient, ServiceBusMessage


def test_the_admin_api_counts_messages_per_entity(admin_api: str, client: ServiceBusClient, queue: str) -> None:
    def details() -> dict:
        return httpx.get(f"{admin_api}/services/servicebus", timeout=5).json()["details"]

    before = details()
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
    with client.get_queue_receiver(queue, max_wait_time=5) as receiver:
        received = receiver.receive_messages(max_message_count=3, max_wait_time=5)
        receiver.dead_letter_message(received[0], reason="bad")
    after = details()
    assert after["entities"][queue] == {"active": 2, "dead_letter": 1, "scheduled": 0}
    assert after["messages_in"] - before["messages_in"] == 3
    assert after["dead_lettered"] - before["dead_lettered"] == 1
