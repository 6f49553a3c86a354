from __future__ import annotations

import re
import uuid

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from controlplane.testing.server import LocalZureThread


def count(text: str, service: str, operation: str, status: int) -> float:
    pattern = rf'localzure_requests_total{{operation="{operation}",service="{service}",status="{status}"}} ([0-9.]+)'
    match = re.search(pattern, text)
    return float(match[1]) if match else 0.0


def test_requests_are_counted_by_operation_and_status(localzure: LocalZureThread, admin: httpx.Client) -> None:
    before = admin.get("/metrics").text
    queue = QueueClient.from_connection_string(localzure.connection_string("queue"), f"m-{uuid.uuid4().hex[:12]}")
    queue.create_queue()
    queue.send_message("a")
    queue.send_message("b")
    missing = QueueClient.from_connection_string(localzure.connection_string("queue"), "never-created-queue")
    with pytest.raises(ResourceNotFoundError):
        missing.get_queue_properties()
    after = admin.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert count(text, "queue", "PutMessage", 201) - count(before, "queue", "PutMessage", 201) == 2
    assert count(text, "queue", "GetQueueMetadata", 404) - count(before, "queue", "GetQueueMetadata", 404) == 1
    assert 'localzure_request_duration_seconds_bucket{le="0.005",operation="PutMessage",service="queue"}' in text
    assert 'localzure_service_up{service="queue"} 1.0' in text
    assert "localzure_requests_active" in text
