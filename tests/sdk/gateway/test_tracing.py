from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from controlplane.logs import setup_logging
from controlplane.testing.server import LocalZureThread
from tests.support import wait_for


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    setup_logging("WARNING", levels={"controlplane.gateway": "DEBUG"}, stream=stream)
    yield stream
    setup_logging("WARNING", stream=io.StringIO())


def test_correlation_and_trace_ids_reach_the_logs(localzure: LocalZureThread, json_log: io.StringIO) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    service = QueueServiceClient.from_connection_string(
        localzure.connection_string("queue"),
        headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    service.create_queue("traced-queue")

    def request_line() -> dict | None:
        lines = [json.loads(text) for text in json_log.getvalue().splitlines()]
        return next((line for line in lines if line["trace_id"] == trace), None)

    line = wait_for(request_line)
    assert len(line["correlation_id"]) == 36  # the SDK's x-ms-client-request-id
    assert line["service"] == "queue"
    assert "CreateQueue" in line["message"]


def test_request_id_is_generated_and_returned(localzure: LocalZureThread) -> None:
    response = httpx.get(f"{localzure.url('queue')}?comp=list")
    assert response.status_code == 403  # no credentials
    assert len(response.headers["x-ms-request-id"]) == 36
    echoed = httpx.get(f"{localzure.url('queue')}?comp=list", headers={"x-ms-client-request-id": "mine"})
    assert echoed.headers["x-ms-request-id"] == "mine"
    assert echoed.headers["x-ms-client-request-id"] == "mine"
