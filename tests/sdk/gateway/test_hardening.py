"""Hostile or oversized requests get Azure-shaped errors, never a crash."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.queue import QueueClient

from controlplane.testing.server import LocalZureThread

TOKEN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    server = LocalZureThread(
        tmp_path_factory.mktemp("strict"),
        persistence="memory",
        admin_token=TOKEN,
        max_header_bytes=4096,
        services={"queue": {"port": 0, "max_body_bytes": 2048}},
    )
    server.start()
    yield server
    server.stop()


def test_oversized_headers_are_refused_in_azure_format(strict: LocalZureThread) -> None:
    response = httpx.get(f"{strict.url('queue')}?comp=list", headers={"x-ms-meta-big": "x" * 8000})
    assert response.status_code == 431
    assert response.headers["x-ms-error-code"] == "RequestHeaderFieldsTooLarge"
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?><Error><Code>')


def test_bodies_over_the_service_limit_are_refused_before_reading(strict: LocalZureThread) -> None:
    queue = QueueClient.from_connection_string(strict.connection_string("queue"), "limited-body", retry_total=0)
    queue.create_queue()
    queue.send_message("small enough")
    with pytest.raises(HttpResponseError) as info:
        queue.send_message("y" * 4000)
    assert info.value.status_code == 413
    assert info.value.error_code == "RequestBodyTooLarge"


def test_mutating_admin_endpoints_need_the_token(strict: LocalZureThread) -> None:
    base = f"http://127.0.0.1:{strict.edge_port}/_localzure"
    assert httpx.post(f"{base}/reset").status_code == 401
    assert httpx.post(f"{base}/faults", json={"rules": []}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{base}/faults").status_code == 200  # reading stays open
    ok = httpx.post(f"{base}/reset", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_no_token_is_needed_on_loopback(localzure: LocalZureThread) -> None:
    assert localzure.runtime.admin_token is None
    response = httpx.post(f"http://127.0.0.1:{localzure.edge_port}/_localzure/faults", json={"rules": []})
    assert response.status_code == 200
