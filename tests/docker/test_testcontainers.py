"""LocalZureContainer exactly as a user's test would use it."""

from __future__ import annotations

import uuid

import httpx
from azure.storage.queue import QueueServiceClient

from controlplane.testing.container import LocalZureContainer


def test_localzure_container_serves_the_queue_sdk(images: None) -> None:
    with LocalZureContainer().with_services("queue").with_in_memory() as localzure:
        client = QueueServiceClient.from_connection_string(localzure.get_connection_string("queue"))
        queue = client.create_queue(f"tc{uuid.uuid4().hex[:8]}")
        queue.send_message("hello from testcontainers")
        assert [m.content for m in queue.receive_messages()] == ["hello from testcontainers"]
        health = httpx.get(f"{localzure.get_admin_url()}/health").json()
        assert health["status"] == "healthy" and health["services"]["queue"]["mode"] == "host"


def test_a_second_account_works_with_its_own_key(images: None) -> None:
    with LocalZureContainer().with_services("queue").with_account("tcaccount") as localzure:
        client = QueueServiceClient.from_connection_string(localzure.get_connection_string("queue", "tcaccount"))
        client.create_queue("mine")
        assert [q.name for q in client.list_queues()] == ["mine"]
