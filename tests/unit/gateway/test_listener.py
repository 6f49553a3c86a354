"""The sniffing listener: one port telling HTTP, TLS, CONNECT and AMQP apart."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.adapter import Adapter
from controlplane.gateway.listener import SniffingListener, https_listener
from controlplane.gateway.proxy import BadConnect, ProxyPolicy, parse_connect
from controlplane.gateway.routing import HostRouter
from controlplane.runners.base import bind
from controlplane.tls import AuthorityLoader, LocalAuthority


class _QueueLike(Adapter):
    name = "queue"
    default_port = 0
    hostname_suffixes = (".queue.core.windows.net", ".queue.localhost")

    def create_service(self, context: Any) -> Any:
        raise NotImplementedError


async def echo_app(scope: dict, receive: Callable, send: Callable) -> None:
    """Answers with what it saw: scheme, host, path, query, body; ``/slow`` takes a while."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(0.5)
    headers = dict(scope["headers"])
    seen = {
        "scheme": scope["scheme"],
        "host": headers.get(b"host", b"").decode(),
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "body": body.decode(),
    }
    payload = json.dumps(seen).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class Edge:
    def __init__(self, listener: SniffingListener, authority: LocalAuthority, amqp_seen: list[bytes]) -> None:
        self.listener = listener
        self.authority = authority
        self.amqp_seen = amqp_seen

    @property
    def port(self) -> int:
        return self.listener.port

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.authority.ca_path))


async def amqp_echo(seen: list[bytes]) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(8)
        seen.append(header)
        writer.write(b"AMQP\x00\x01\x00\x00")  # a server answering with its own protocol header
        await writer.drain()
        seen.append(await reader.read(100))

    return handler


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the module: making it is the slow part."""
    return tmp_path_factory.mktemp("tls")


@pytest.fixture
async def edge(tls_dir: Path) -> AsyncIterator[Edge]:
    loader = AuthorityLoader(tls_dir, _QueueLike.hostname_suffixes)
    authority = await loader.get()
    seen: list[bytes] = []
    listener = SniffingListener(
        echo_app,
        bind("127.0.0.1", 0),
        "test-edge",
        tls=loader,
        proxy=ProxyPolicy(HostRouter([_QueueLike()])),
        amqp=await amqp_echo(seen),
        first_bytes_timeout=0.5,
    )
    await listener.start()
    yield Edge(listener, authority, seen)
    await listener.stop(1.0)


async def _raw(port: int, data: bytes, read: int = 65536, timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(read), timeout)
    finally:
        writer.close()


def _body(response: bytes) -> dict[str, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body)


# ---- plain HTTP ------------------------------------------------------------------------------


async def test_plain_http(edge: Edge) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.post("/a/b?x=1", content=b"hello", headers={"Host": "acct.queue.localhost"})
        second = await client.get("/again")  # same keep-alive connection
    assert response.json() == {
        "scheme": "http",
        "host": "acct.queue.localhost",
        "path": "/a/b",
        "raw_path": "/a/b",
        "query": "x=1",
        "body": "hello",
    }
    assert second.json()["path"] == "/again"


async def test_absolute_form_request_line_is_routed_by_its_path(edge: Edge) -> None:
    request = (
        b"GET http://acct.queue.core.windows.net/myqueue/messages?peekonly=true HTTP/1.1\r\n"
        b"Host: acct.queue.core.windows.net\r\nConnection: close\r\n\r\n"
    )
    seen = _body(await _raw(edge.port, request))
    assert seen["path"] == "/myqueue/messages"
    assert seen["raw_path"] == "/myqueue/messages"
    assert seen["query"] == "peekonly=true"
    assert seen["host"] == "acct.queue.core.windows.net"


async def test_plain_http_through_a_real_proxy_client(edge: Edge) -> None:
    async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{edge.port}") as client:
        response = await client.get("http://acct.queue.core.windows.net/q1?comp=metadata")
    seen = response.json()
    assert (seen["scheme"], seen["host"], seen["path"], seen["query"]) == (
        "http",
        "acct.queue.core.windows.net",
        "/q1",
        "comp=metadata",
    )


# ---- TLS -------------------------------------------------------------------------------------


async def test_tls_on_the_same_port(edge: Edge) -> None:
    async with httpx.AsyncClient(verify=edge.client_context()) as client:
        response = await client.get(f"https://127.0.0.1:{edge.port}/secure", headers={"Host": "acct.queue.localhost"})
    assert response.json()["scheme"] == "https"
    assert response.json()["path"] == "/secure"


async def test_tls_serves_the_server_certificate_to_azure_names(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.port, ssl=edge.client_context(), server_hostname="myapp.queue.core.windows.net"
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"GET /x HTTP/1.1\r\nHost: myapp.queue.core.windows.net\r\nConnection: close\r\n\r\n")
        assert _body(await asyncio.wait_for(reader.read(), 5))["scheme"] == "https"
    finally:
        writer.close()
    from cryptography import x509

    assert x509.load_der_x509_certificate(der) == edge.authority.server_certificate


async def test_a_tls_client_not_trusting_the_ca_fails(edge: Edge) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(
            "127.0.0.1", edge.port, ssl=ssl.create_default_context(), server_hostname="localhost"
        )
    # ... and the listener carries on.
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{edge.port}/still")).json()["path"] == "/still"


async def test_a_broken_handshake_does_not_hurt_the_listener(edge: Edge) -> None:
    reply = await _raw(edge.port, b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
    assert not reply.startswith(b"HTTP/1.1 200")
    async with httpx.AsyncClient(verify=edge.client_context()) as client:
        assert (await client.get(f"https://localhost:{edge.port}/fine")).json()["scheme"] == "https"


# ---- CONNECT ---------------------------------------------------------------------------------


async def _connect(port: int, target: bytes) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\nProxy-Connection: keep-alive\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head, reader, writer


async def test_connect_to_an_azure_host_is_terminated_here(edge: Edge) -> None:
    head, reader, writer = await _connect(edge.port, b"myapp.queue.core.windows.net:443")
    assert head == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    await writer.start_tls(edge.client_context(), server_hostname="myapp.queue.core.windows.net")
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.write(b"GET /q?x=1 HTTP/1.1\r\nHost: myapp.queue.core.windows.net\r\nConnection: close\r\n\r\n")
    seen = _body(await asyncio.wait_for(reader.read(), 5))
    writer.close()
    assert (seen["scheme"], seen["host"], seen["path"], seen["query"]) == (
        "https",
        "myapp.queue.core.windows.net",
        "/q",
        "x=1",
    )
    from cryptography import x509

    leaf = x509.load_der_x509_certificate(der)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["myapp.queue.core.windows.net"]  # minted for the host
    leaf.verify_directly_issued_by(edge.authority.ca_certificate)


async def test_connect_through_a_real_proxy_client(edge: Edge) -> None:
    async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{edge.port}", verify=edge.client_context()) as client:
        first = await client.put("https://acct.queue.core.windows.net/q1", content=b"one")
        second = await client.get("https://acct.queue.localhost:8443/q2")
    assert (first.json()["scheme"], first.json()["host"], first.json()["body"]) == (
        "https",
        "acct.queue.core.windows.net",
        "one",
    )
    assert second.json()["host"] == "acct.queue.localhost:8443"


async def test_plain_http_inside_a_tunnel(edge: Edge) -> None:
    head, reader, writer = await _connect(edge.port, b"acct.queue.localhost:80")
    assert head.startswith(b"HTTP/1.1 200")
    writer.write(b"GET /inside HTTP/1.1\r\nHost: acct.queue.localhost\r\nConnection: close\r\n\r\n")
    seen = _body(await asyncio.wait_for(reader.read(), 5))
    writer.close()
    assert (seen["scheme"], seen["path"]) == ("http", "/inside")


@pytest.mark.parametrize(
    "target", [b"example.com:443", b"login.microsoftonline.com:443", b"evil.queue.core.windows.net.example.com:443"]
)
async def test_connect_elsewhere_is_refused(edge: Edge, target: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\n\r\n")
    response = await asyncio.wait_for(reader.read(), 5)  # read() to EOF: the connection is closed after
    writer.close()
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert target.split(b":")[0] in response


@pytest.mark.parametrize(
    "request_head",
    [b"CONNECT nohost HTTP/1.1\r\n\r\n", b"CONNECT a:b:c:notaport HTTP/1.1\r\n\r\n", b"CONNECT  HTTP/1.1\r\n\r\n"],
)
async def test_malformed_connect_gets_400(edge: Edge, request_head: bytes) -> None:
    assert (await _raw(edge.port, request_head)).startswith(b"HTTP/1.1 400")


async def test_oversized_connect_head_gets_400(edge: Edge) -> None:
    head = b"CONNECT acct.queue.localhost:443 HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
    assert (await _raw(edge.port, head)).startswith(b"HTTP/1.1 400")


def test_parse_connect() -> None:
    assert parse_connect(b"CONNECT Acct.Queue.Localhost:443 HTTP/1.1\r\n\r\n").host == "acct.queue.localhost"
    target = parse_connect(b"CONNECT [::1]:8080 HTTP/1.0\r\n\r\n")
    assert (target.host, target.port) == ("::1", 8080)
    for bad in (b"GET / HTTP/1.1\r\n\r\n", b"CONNECT host:0 HTTP/1.1\r\n\r\n", b"CONNECT [::1 HTTP/1.1\r\n\r\n"):
        with pytest.raises(BadConnect):
            parse_connect(bad)


def test_proxy_policy() -> None:
    policy = ProxyPolicy(HostRouter([_QueueLike()]))
    assert policy.allows("myapp.queue.core.windows.net")
    assert policy.allows("acct.queue.localhost") and policy.allows("localhost") and policy.allows("127.0.0.1")
    assert policy.allows("[::1]")
    assert not policy.allows("example.com")
    assert not policy.allows("myapp.blob.core.windows.net")  # no blob adapter installed here
    assert not policy.allows("a.b.queue.core.windows.net")
    assert not policy.allows("10.0.0.1")


# ---- AMQP ------------------------------------------------------------------------------------


async def test_amqp_preface_goes_to_the_registered_handler(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(b"AMQP\x03\x01\x00\x00")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(8), 5) == b"AMQP\x00\x01\x00\x00"
    writer.write(b"frame")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    assert edge.amqp_seen[:2] == [b"AMQP\x03\x01\x00\x00", b"frame"]


async def test_amqp_preface_split_across_segments(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(b"AM")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(b"QP\x00\x01\x00\x00")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(8), 5) == b"AMQP\x00\x01\x00\x00"
    writer.close()
    assert edge.amqp_seen[0] == b"AMQP\x00\x01\x00\x00"


async def test_amqp_over_tls(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.port, ssl=edge.client_context(), server_hostname="localhost"
    )
    writer.write(b"AMQP\x00\x01\x00\x00")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(8), 5) == b"AMQP\x00\x01\x00\x00"
    writer.close()
    assert edge.amqp_seen[0] == b"AMQP\x00\x01\x00\x00"


async def test_amqp_without_a_handler_is_closed(edge: Edge) -> None:
    edge.listener.register_amqp(None)
    assert await _raw(edge.port, b"AMQP\x00\x01\x00\x00") == b""


# ---- hostile and idle clients ----------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\x01\x02\x03garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\xff" * 100, b"CONNECTX\r\n\r\n", b"A\r\n\r\n"],
)
async def test_garbage_is_answered_or_dropped_without_crashing(edge: Edge, garbage: bytes) -> None:
    reply = await _raw(edge.port, garbage)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4")
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{edge.port}/ok")).status_code == 200


async def test_a_client_that_closes_at_once_is_harmless(edge: Edge) -> None:
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.close()
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{edge.port}/ok")).status_code == 200


async def test_an_idle_connection_is_closed(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # EOF from the server
    writer.close()
    assert 0.4 < time.monotonic() - started < 3


async def test_an_idle_connection_after_a_tunnel_is_closed(edge: Edge) -> None:
    head, reader, writer = await _connect(edge.port, b"acct.queue.localhost:443")
    assert head.startswith(b"HTTP/1.1 200")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_a_partial_preface_then_silence_is_closed(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(b"AMQ")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


# ---- HTTPS-only and stopping -----------------------------------------------------------------


async def test_https_only_listener(tls_dir: Path) -> None:
    loader = AuthorityLoader(tls_dir, _QueueLike.hostname_suffixes)
    authority = await loader.get()
    listener = https_listener(echo_app, bind("127.0.0.1", 0), "https-only", loader)
    await listener.start()
    try:
        refused = await _raw(listener.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 400") and b"HTTPS only" in refused
        assert (await _raw(listener.port, b"CONNECT localhost:443 HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert await _raw(listener.port, b"AMQP\x00\x01\x00\x00") == b""  # no AMQP on this one
        client = ssl.create_default_context(cafile=str(authority.ca_path))
        async with httpx.AsyncClient(verify=client) as http:
            assert (await http.get(f"https://localhost:{listener.port}/s")).json()["scheme"] == "https"
    finally:
        await listener.stop(1.0)


async def test_stop_lets_a_running_request_finish_and_closes_idle_tls_quickly(edge: Edge) -> None:
    async with httpx.AsyncClient(verify=edge.client_context()) as idle:
        assert (await idle.get(f"https://localhost:{edge.port}/warm")).status_code == 200  # now idle, pooled
        async with httpx.AsyncClient() as client:
            slow = asyncio.create_task(client.get(f"http://127.0.0.1:{edge.port}/slow"))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await edge.listener.stop(5.0)
            elapsed = time.monotonic() - started
            assert (await slow).json()["path"] == "/slow"
    assert elapsed < 3.5  # the idle TLS connection did not hold the stop up for the grace period
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", edge.port)


async def test_stop_cancels_what_outlives_the_grace_period() -> None:
    async def forever(scope: dict, receive: Callable, send: Callable) -> None:
        await asyncio.sleep(60)

    listener = SniffingListener(forever, bind("127.0.0.1", 0), "forever")
    await listener.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await listener.stop(0.3)
    assert time.monotonic() - started < 2
    writer.close()


async def test_without_readiness_callbacks_it_polls(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' proactor loop has no add_reader: the listener still tells protocols apart."""
    loop = asyncio.get_running_loop()

    def no_readers(*args: Any) -> None:
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_reader", no_readers)
    reply = await _raw(edge.port, b"GET /polled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _body(reply)["path"] == "/polled"
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # idle: still closed after the timeout
    writer.close()


async def test_a_service_port_with_https_and_amqp(tls_dir: Path) -> None:
    """Service Bus's shape: AMQP and HTTPS on one port."""
    loader = AuthorityLoader(tls_dir, _QueueLike.hostname_suffixes)
    authority = await loader.get()
    seen: list[bytes] = []
    listener = https_listener(echo_app, bind("127.0.0.1", 0), "servicebus-like", loader, amqp=await amqp_echo(seen))
    await listener.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"AMQP\x00\x01\x00\x00")
        assert await asyncio.wait_for(reader.readexactly(8), 5) == b"AMQP\x00\x01\x00\x00"
        writer.close()
        client = ssl.create_default_context(cafile=str(authority.ca_path))
        async with httpx.AsyncClient(verify=client) as http:
            assert (await http.get(f"https://localhost:{listener.port}/$management")).json()["scheme"] == "https"
        assert (await _raw(listener.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 400")
    finally:
        await listener.stop(1.0)
