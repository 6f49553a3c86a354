"""Production-style connection strings reaching LocalZure through the edge as HTTP(S) proxy.

A guard makes every name other than loopback unresolvable in this process, so a request
that does not go through the proxy fails instead of leaving the machine.
"""

from __future__ import annotations

import socket
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient
from cryptography import x509

from controlplane.cli import main as cli_main
from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

ACCOUNT = "devstoreaccount1"
OTHER_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktb3RoZXIta2V5LW90aGVyLWtleQ=="
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def production_string(protocol: str, account: str = ACCOUNT, key: str = WELL_KNOWN_KEY) -> str:
    return f"DefaultEndpointsProtocol={protocol};AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, bytes):
            host = host.decode()
        if host not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not resolvable in these tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _use_proxy(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Both spellings: urllib (and so requests) prefers the lower-case one when both are set."""
    _clear_proxy_env(monkeypatch)
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        monkeypatch.setenv(name.lower(), f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def ca_file(localzure: LocalZureThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA as a user gets it: from the admin API."""
    response = httpx.get(f"http://127.0.0.1:{localzure.edge_port}/_localzure/cert.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    path = tmp_path_factory.mktemp("ca") / "localzure-ca.pem"
    path.write_bytes(response.content)
    return path


# ---- the Azure SDK through the proxy ---------------------------------------------------------


def test_https_connection_string_through_https_proxy(
    localzure: LocalZureThread, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    service = QueueServiceClient.from_connection_string(production_string("https"), retry_total=0)
    assert service.url == f"https://{ACCOUNT}.queue.core.windows.net/"
    name = f"proxied-{uuid.uuid4().hex[:12]}"
    queue = service.create_queue(name)
    try:
        sent = queue.send_message("through the proxy")
        [received] = queue.receive_messages()
        assert (received.id, received.content) == (sent.id, "through the proxy")
        queue.delete_message(received)
        # Real state, not an echo: the same queue is there path-style on the queue port.
        _clear_proxy_env(monkeypatch)
        direct = QueueServiceClient.from_connection_string(localzure.connection_string("queue"))
        assert name in [q.name for q in direct.list_queues(name_starts_with="proxied-")]
    finally:
        _use_proxy(monkeypatch, localzure.edge_port)
        queue.delete_queue()


def test_without_the_ca_the_sdk_refuses_the_minted_certificate(
    localzure: LocalZureThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    empty = tmp_path / "other-ca.pem"
    empty.write_bytes(_other_ca_pem(tmp_path))
    service = QueueServiceClient.from_connection_string(
        production_string("https"), retry_total=0, connection_verify=str(empty)
    )
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        service.get_service_properties()


def test_http_connection_string_through_http_proxy(localzure: LocalZureThread, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    service = QueueServiceClient.from_connection_string(production_string("http"), retry_total=0)
    assert service.url == f"http://{ACCOUNT}.queue.core.windows.net/"
    queue = service.create_queue(f"plain-{uuid.uuid4().hex[:12]}")
    try:
        queue.send_message("absolute-form")
        assert [m.content for m in queue.peek_messages()] == ["absolute-form"]
    finally:
        queue.delete_queue()


def test_without_a_proxy_nothing_leaves_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard works: a production host without the proxy cannot even be resolved."""
    _clear_proxy_env(monkeypatch)
    service = QueueServiceClient.from_connection_string(production_string("http"), retry_total=0)
    with pytest.raises(ServiceRequestError):
        service.get_service_properties()


def test_blob_through_https_proxy(localzure: LocalZureThread, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    service = BlobServiceClient.from_connection_string(
        production_string("https"), retry_total=0, connection_verify=str(ca_file)
    )
    assert service.url == f"https://{ACCOUNT}.blob.core.windows.net/"
    container = service.create_container(f"proxied-{uuid.uuid4().hex[:12]}")
    try:
        container.upload_blob("hello.txt", b"hello through CONNECT")
        assert container.download_blob("hello.txt").readall() == b"hello through CONNECT"
        assert [b.name for b in container.list_blobs()] == ["hello.txt"]
    finally:
        container.delete_container()


def test_table_through_https_proxy(localzure: LocalZureThread, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    service = TableServiceClient.from_connection_string(
        production_string("https"), retry_total=0, connection_verify=str(ca_file)
    )
    assert service.url.startswith(f"https://{ACCOUNT}.table.core.windows.net")
    table = service.create_table(f"proxied{uuid.uuid4().hex[:12]}")
    try:
        table.create_entity({"PartitionKey": "p", "RowKey": "r", "value": 42})
        assert table.get_entity("p", "r")["value"] == 42
    finally:
        service.delete_table(table.table_name)


def test_localhost_names_through_http_proxy_need_no_dns(
    localzure: LocalZureThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``*.localhost`` is unresolvable here (the guard); the proxy makes that irrelevant."""
    _use_proxy(monkeypatch, localzure.edge_port)
    service = QueueServiceClient(
        account_url=f"http://{ACCOUNT}.queue.localhost:{localzure.edge_port}",
        credential={"account_name": ACCOUNT, "account_key": WELL_KNOWN_KEY},
        retry_total=0,
    )
    queue = service.create_queue(f"localhost-{uuid.uuid4().hex[:12]}")
    try:
        queue.send_message("no hosts file")
        assert [m.content for m in queue.peek_messages()] == ["no hosts file"]
    finally:
        queue.delete_queue()


def test_unknown_account_is_refused_without_auto_create(
    localzure: LocalZureThread, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    service = QueueServiceClient.from_connection_string(
        production_string("https", account="myapp"), retry_total=0, connection_verify=str(ca_file)
    )
    with pytest.raises(ClientAuthenticationError) as error:
        service.create_queue("never")
    assert error.value.error_code == "AuthenticationFailed"


# ---- the served chain, checked with the ssl module ---------------------------------------------


def _served_certificate(port: int, cafile: Path, hostname: str, connect: bool) -> x509.Certificate:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if connect:
            raw.sendall(f"CONNECT {hostname}:443 HTTP/1.1\r\nHost: {hostname}:443\r\n\r\n".encode())
            assert raw.recv(4096) == b"HTTP/1.1 200 Connection Established\r\n\r\n"
        context = ssl.create_default_context(cafile=str(cafile))
        with context.wrap_socket(raw, server_hostname=hostname) as tls:
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
            assert tls.recv(4096).startswith(b"HTTP/1.1 ")
            der = tls.getpeercert(binary_form=True)
    finally:
        raw.close()
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.mark.parametrize("connect", [False, True], ids=["tls-on-edge", "connect-tunnel"])
@pytest.mark.parametrize("hostname", ["myapp.queue.core.windows.net", "devstoreaccount1.blob.localhost", "localhost"])
def test_served_chain_verifies_against_the_exported_ca(
    localzure: LocalZureThread, ca_file: Path, hostname: str, connect: bool
) -> None:
    served = _served_certificate(localzure.edge_port, ca_file, hostname, connect)
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    served.verify_directly_issued_by(ca)


def test_connect_to_a_foreign_host_is_refused(localzure: LocalZureThread) -> None:
    with socket.create_connection(("127.0.0.1", localzure.edge_port), timeout=5) as raw:
        raw.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        response = b""
        while chunk := raw.recv(4096):
            response += chunk
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"example.com" in response


def test_sdk_through_a_proxy_to_a_foreign_host_fails(
    localzure: LocalZureThread, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_proxy(monkeypatch, localzure.edge_port)
    service = QueueServiceClient(
        account_url="https://example.com",
        credential={"account_name": ACCOUNT, "account_key": WELL_KNOWN_KEY},
        retry_total=0,
        connection_verify=str(ca_file),
    )
    with pytest.raises(ServiceRequestError, match="403"):
        service.get_service_properties()


def test_cli_cert_export_matches_what_is_served(localzure: LocalZureThread, ca_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported.pem"
    assert cli_main(["cert", "export", "--data-dir", str(localzure.settings.data_dir), "--out", str(out)]) == 0
    assert out.read_bytes() == ca_file.read_bytes()


def test_cli_cert_export_prints_and_makes_a_ca_when_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["cert", "export", "--data-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("-----BEGIN CERTIFICATE-----")
    assert printed.encode() == (tmp_path / "tls" / "ca.pem").read_bytes()
    assert cli_main(["cert", "export", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == printed  # reused, not made again


# ---- auto-created accounts and the HTTPS-only edge port -----------------------------------------


@pytest.fixture(scope="module")
def auto_create(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    server = LocalZureThread(
        data_dir=tmp_path_factory.mktemp("autocreate"),
        persistence="memory",
        auto_create_accounts=True,
        tls={"edge_https_port": 0},
    )
    server.start()
    yield server
    server.stop()


def _auto_ca(server: LocalZureThread) -> str:
    return str(server.call(server.runtime.tls.get()).ca_path)


def test_auto_create_serves_an_unknown_account_with_the_auto_create_key(
    auto_create: LocalZureThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_proxy(monkeypatch, auto_create.edge_port)
    conn = production_string("https", account="myapp")
    service = QueueServiceClient.from_connection_string(conn, retry_total=0, connection_verify=_auto_ca(auto_create))
    queue = service.create_queue("orders")
    queue.send_message("first use")
    assert [m.content for m in queue.peek_messages()] == ["first use"]
    assert [q.name for q in service.list_queues()] == ["orders"]  # myapp's own namespace
    wrong = production_string("https", account="myapp", key=OTHER_KEY)
    intruder = QueueServiceClient.from_connection_string(wrong, retry_total=0, connection_verify=_auto_ca(auto_create))
    with pytest.raises(ClientAuthenticationError):
        intruder.get_queue_client("orders").peek_messages()


@pytest.mark.usefixtures("resolve_localhost")
def test_https_only_edge_port(auto_create: LocalZureThread, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_env(monkeypatch)
    assert auto_create.runtime.edge_https is not None
    port = auto_create.runtime.edge_https.port
    service = QueueServiceClient(
        account_url=f"https://{ACCOUNT}.queue.localhost:{port}",
        credential={"account_name": ACCOUNT, "account_key": WELL_KNOWN_KEY},
        retry_total=0,
        connection_verify=_auto_ca(auto_create),
    )
    queue = service.create_queue("https-edge")
    queue.send_message("over https")
    assert [m.content for m in queue.peek_messages()] == ["over https"]
    plain = httpx.get(f"http://127.0.0.1:{port}/health")
    assert plain.status_code == 400


def _other_ca_pem(tmp_path: Path) -> bytes:
    from controlplane.tls import LocalAuthority

    return LocalAuthority.load_or_create(tmp_path / "stranger").ca_pem
