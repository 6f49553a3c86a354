from __future__ import annotations

import re
import uuid

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import QueueClient

from controlplane.testing.server import LocalZureThread


def test_account_rate_limit_answers_server_busy(localzure: LocalZureThread, admin: httpx.Client) -> None:
    queue = QueueClient.from_connection_string(
        localzure.connection_string("queue"), f"limited-{uuid.uuid4().hex[:12]}", retry_total=0
    )
    queue.create_queue()
    rules = [{"scope": "account", "service": "queue", "limit": "3/minute"}]
    assert admin.put("/rate-limits", json={"rules": rules}).status_code == 200
    for _ in range(3):
        queue.send_message("within budget")
    with pytest.raises(HttpResponseError) as info:
        queue.send_message("over budget")
    assert info.value.status_code == 503
    assert info.value.error_code == "ServerBusy"
    headers = info.value.response.headers
    assert 0 < int(headers["Retry-After"]) <= 60 and int(headers["x-ms-retry-after-ms"]) > 0
    assert admin.get("/rate-limits").json()["rejected"] >= 1
    metrics = admin.get("/metrics").text
    assert re.search(r'localzure_rate_limited_total{service="queue"} [1-9]', metrics)

    admin.put("/rate-limits", json={"rules": []})
    queue.send_message("unlimited again")
    assert len(queue.peek_messages(max_messages=10)) == 4
