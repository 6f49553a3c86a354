"""Path-style on the queue port, hostname-style on the edge port (SDK and raw Host header)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.queue import (
    AccountSasPermissions,
    QueueServiceClient,
    ResourceTypes,
    generate_account_sas,
)

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

ACCOUNT = "devstoreaccount1"


def _sas() -> str:
    return generate_account_sas(
        ACCOUNT,
        WELL_KNOWN_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True, process=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def test_path_style_on_the_queue_port(localzure: LocalZureThread) -> None:
    url = f"http://127.0.0.1:{localzure.port('queue')}/{ACCOUNT}"
    service = QueueServiceClient(account_url=url, credential={"account_name": ACCOUNT, "account_key": WELL_KNOWN_KEY})
    name = f"path-{uuid.uuid4().hex[:12]}"
    client = service.create_queue(name)
    try:
        client.send_message("path style")
        assert [m.content for m in client.peek_messages()] == ["path style"]
        assert name in [q.name for q in service.list_queues(name_starts_with="path-")]
    finally:
        client.delete_queue()


@pytest.mark.usefixtures("resolve_localhost")
def test_hostname_style_on_the_edge_port(localzure: LocalZureThread) -> None:
    url = f"http://{ACCOUNT}.queue.localhost:{localzure.edge_port}"
    service = QueueServiceClient(account_url=url, credential={"account_name": ACCOUNT, "account_key": WELL_KNOWN_KEY})
    name = f"host-{uuid.uuid4().hex[:12]}"
    client = service.create_queue(name, metadata={"style": "hostname"})
    try:
        sent = client.send_message("hostname style")
        [received] = client.receive_messages()
        assert received.id == sent.id
        assert received.content == "hostname style"
        client.delete_message(received)
        assert client.get_queue_properties().metadata == {"style": "hostname"}
        assert [q.name for q in service.list_queues(name_starts_with=name)] == [name]
        # The same queue is visible path-style on the queue port.
        path_style = QueueServiceClient.from_connection_string(localzure.connection_string("queue"))
        assert path_style.get_queue_client(name).get_queue_properties().metadata == {"style": "hostname"}
    finally:
        client.delete_queue()


def test_raw_request_with_azure_host_header(localzure: LocalZureThread) -> None:
    name = f"raw-{uuid.uuid4().hex[:12]}"
    base = f"http://127.0.0.1:{localzure.edge_port}"
    host = {"Host": f"{ACCOUNT}.queue.core.windows.net", "x-ms-version": "2021-02-12"}
    sas = _sas()
    with httpx.Client(base_url=base, headers=host) as http:
        created = http.put(f"/{name}?{sas}", headers={"x-ms-client-request-id": "raw-client-id"})
        assert created.status_code == 201
        assert created.headers["x-ms-request-id"]
        assert created.headers["x-ms-client-request-id"] == "raw-client-id"
        put = http.post(
            f"/{name}/messages?{sas}", content=b"<QueueMessage><MessageText>raw</MessageText></QueueMessage>"
        )
        assert put.status_code == 201
        assert put.headers["content-type"] == "application/xml"
        assert "<PopReceipt>" in put.text
        listing = http.get(f"/?comp=list&prefix={name}&{sas}")
        assert listing.status_code == 200
        assert f"<Name>{name}</Name>" in listing.text
        assert 'ServiceEndpoint="http://' in listing.text
        props = http.head(f"/{name}?comp=metadata&{sas}")
        assert props.headers["x-ms-approximate-messages-count"] == "1"
        peek = http.get(f"/{name}/messages?peekonly=true&{sas}")
        assert "<MessageText>raw</MessageText>" in peek.text
        assert http.delete(f"/{name}?{sas}").status_code == 204
        missing = http.get(f"/{name}?comp=metadata&{sas}")
        assert missing.status_code == 404
        assert missing.headers["x-ms-error-code"] == "QueueNotFound"
        assert "<Code>QueueNotFound</Code>" in missing.text


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/{q}", 405, "UnsupportedHttpVerb"),
        ("PATCH", "/{q}/messages", 405, "UnsupportedHttpVerb"),
        ("POST", "/{q}/messages/some-id", 405, "UnsupportedHttpVerb"),
        ("GET", "/{q}/nothing-here", 400, "InvalidUri"),
        ("GET", "/{q}/messages/a/b", 400, "InvalidUri"),
        ("GET", "/{q}?comp=unknown", 400, "InvalidUri"),
        ("GET", "/?comp=nothing", 400, "InvalidUri"),
    ],
)
def test_unknown_operations(localzure: LocalZureThread, method: str, path: str, status: int, code: str) -> None:
    url = f"http://127.0.0.1:{localzure.port('queue')}/{ACCOUNT}" + path.format(q="some-queue")
    url += ("&" if "?" in url else "?") + _sas()
    response = httpx.request(method, url)
    assert response.status_code == status
    assert response.headers["x-ms-error-code"] == code
