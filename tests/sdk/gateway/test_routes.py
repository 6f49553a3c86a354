"""Custom hostname routes from the config: to a service, to a service and account, to a URL."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from controlplane.app import build_runtime
from controlplane.config import load_settings
from controlplane.registry import RegistryError
from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

CREDENTIAL = {"account_name": "devstoreaccount1", "account_key": WELL_KNOWN_KEY}


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory, echo: int) -> Iterator[LocalZureThread]:
    server = LocalZureThread(
        tmp_path_factory.mktemp("routes"),
        persistence="memory",
        routes={
            "storage.example.test": "queue/devstoreaccount1",
            "devstoreaccount1.queues.example.test": "queue",
            "legacy.example.test": f"http://127.0.0.1:{echo}",
        },
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def resolve_test_names(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(".example.test"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("resolve_test_names")
def test_route_to_a_service_and_account(routed: LocalZureThread) -> None:
    client = QueueServiceClient(f"http://storage.example.test:{routed.edge_port}", credential=CREDENTIAL)
    client.create_queue("via-route")
    assert "via-route" in [q.name for q in client.list_queues()]


@pytest.mark.usefixtures("resolve_test_names")
def test_route_to_a_service_takes_the_account_from_the_first_label(routed: LocalZureThread) -> None:
    client = QueueServiceClient(
        f"http://devstoreaccount1.queues.example.test:{routed.edge_port}", credential=CREDENTIAL
    )
    client.create_queue("first-label")
    assert client.get_queue_client("first-label").get_queue_properties().name == "first-label"


def test_route_to_a_url_forwards_with_the_original_host(routed: LocalZureThread) -> None:
    response = httpx.get(f"http://127.0.0.1:{routed.edge_port}/some/path?x=1", headers={"Host": "legacy.example.test"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/some/path?x=1"
    assert seen["headers"]["x-original-host"] == "legacy.example.test"
    assert seen["headers"]["traceparent"].startswith("00-")


def test_unknown_host_is_named(routed: LocalZureThread) -> None:
    response = httpx.get(f"http://127.0.0.1:{routed.edge_port}/x", headers={"Host": "nowhere.example.test"})
    assert response.status_code == 400
    assert "nowhere.example.test" in response.text


def test_route_to_a_missing_service_is_a_start_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = load_settings(
        cli={"data_dir": tmp_path_factory.mktemp("bad"), "routes": {"x.example.test": "nosuchservice"}}, env={}
    )
    with pytest.raises(RegistryError, match="nosuchservice"):
        build_runtime(settings)
