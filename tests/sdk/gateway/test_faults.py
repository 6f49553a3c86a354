"""Fault injection as people testing retry logic use it: the SDK's own retry policy recovers."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.queue import LinearRetry, QueueClient

from controlplane.testing.server import LocalZureThread


def injected(admin: httpx.Client, service: str, operation: str) -> float:
    text = admin.get("/metrics").text
    pattern = rf'localzure_faults_injected_total{{operation="{operation}",service="{service}"}} ([0-9.]+)'
    match = re.search(pattern, text)
    return float(match[1]) if match else 0.0


def new_queue(localzure: LocalZureThread, **kwargs: object) -> QueueClient:
    queue = QueueClient.from_connection_string(
        localzure.connection_string("queue"), f"faults-{uuid.uuid4().hex[:12]}", **kwargs
    )
    queue.create_queue()
    return queue


def test_sdk_retries_through_two_injected_failures(localzure: LocalZureThread, admin: httpx.Client) -> None:
    # The SDK's own retry policy, with a short wait so the test stays quick.
    queue = new_queue(localzure, retry_policy=LinearRetry(backoff=0.2, random_jitter_range=0))
    before = injected(admin, "queue", "PutMessage")
    rule = {"service": "queue", "operation": "PutMessage", "status": 503, "error_code": "ServerBusy", "count": 2}
    response = admin.post("/faults", json={"rules": [rule]})
    assert response.status_code == 200

    sent = queue.send_message("third time lucky")

    assert queue.peek_messages()[0].id == sent.id
    [described] = admin.get("/faults").json()["rules"]
    assert (described["fired"], described["spent"]) == (2, True)
    assert injected(admin, "queue", "PutMessage") - before == 2


def test_fault_error_reaches_a_client_without_retries(localzure: LocalZureThread, admin: httpx.Client) -> None:
    queue = new_queue(localzure, retry_total=0)
    rule = {"operation": "GetQueueMetadata", "status": 500, "error_code": "InternalError", "retry_after": 7}
    admin.post("/faults", json={"rules": [rule]})
    with pytest.raises(HttpResponseError) as info:
        queue.get_queue_properties()
    assert info.value.status_code == 500
    assert info.value.error_code == "InternalError"
    assert info.value.response.headers["Retry-After"] == "7"
    assert admin.delete("/faults").json() == {"removed": 1}
    assert queue.get_queue_properties().name == queue.queue_name


def test_every_other_request_fails(localzure: LocalZureThread, admin: httpx.Client) -> None:
    queue = new_queue(localzure, retry_total=0)
    admin.post("/faults", json={"rules": [{"operation": "PeekMessages", "every": 2, "status": 503}]})
    outcomes = []
    for _ in range(4):
        try:
            queue.peek_messages()
            outcomes.append("ok")
        except HttpResponseError as error:
            outcomes.append(str(error.status_code))
    assert outcomes == ["ok", "503", "ok", "503"]


def test_invalid_rules_are_refused(admin: httpx.Client) -> None:
    response = admin.post("/faults", json={"rules": [{"status": 200}]})
    assert response.status_code == 422
    assert admin.get("/faults").json() == {"rules": []}


def test_put_blob_succeeds_on_the_third_try(localzure: LocalZureThread, admin: httpx.Client) -> None:
    """The issue's own example: the next two PutBlob calls fail with 503, the SDK retries."""
    service = BlobServiceClient.from_connection_string(
        localzure.connection_string("blob"), retry_policy=BlobLinearRetry(backoff=0.2, random_jitter_range=0)
    )
    container = service.create_container(f"faults-{uuid.uuid4().hex[:12]}")
    before = injected(admin, "blob", "PutBlob")
    rule = {"service": "blob", "operation": "PutBlob", "status": 503, "error_code": "ServerBusy", "count": 2}
    admin.post("/faults", json={"rules": [rule]})

    container.upload_blob("retried.txt", b"made it")

    assert container.download_blob("retried.txt").readall() == b"made it"
    assert injected(admin, "blob", "PutBlob") - before == 2
    [described] = admin.get("/faults").json()["rules"]
    assert described["fired"] == 2
