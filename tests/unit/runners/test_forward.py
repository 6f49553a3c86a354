"""The circuit breaker, the forwarding service (against a real local backend) and TCP pass-through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from controlplane.adapter import AmqpHandler
from controlplane.gateway.errors import ServerBusy
from controlplane.gateway.inflight import InFlight
from controlplane.gateway.metrics import GatewayMetrics, render_families
from controlplane.gateway.pipeline import Gateway
from controlplane.gateway.routing import HostRouter
from controlplane.runners.base import HttpListener, bind
from controlplane.runners.forward import BreakerState, CircuitBreaker, ForwardingService
from tests.support import free_port
from tests.unit.gateway.test_metrics import CountingService


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_failures_in_a_row() -> None:
    breaker = CircuitBreaker("x", threshold=3, reset_after=5, clock=Clock())
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    breaker.success()  # a success in between resets the count
    for _ in range(2):
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_breaker_half_opens_after_the_timeout_and_admits_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", threshold=1, reset_after=5, clock=clock)
    breaker.failure()
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


async def echo_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = dict(scope["headers"])
    reply = b"|".join(
        [
            scope["method"].encode(),
            scope["raw_path"],
            scope["query_string"],
            headers.get(b"host", b""),
            headers.get(b"authorization", b""),
            str(len(body)).encode(),
        ]
    )
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"x-ms-request-id", b"upstream"),
                (b"x-custom", b"1"),
                (b"content-length", str(len(reply)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply})


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)


def scope(path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "method": "PUT",
        "path": path.decode(),
        "raw_path": path,
        "query_string": query,
        "headers": headers,
    }


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    listener = HttpListener(echo_app, bind("127.0.0.1", 0), "echo")
    await listener.start()
    yield listener.port
    await listener.stop(1)


async def test_forwarding_streams_and_keeps_path_query_host_and_auth(backend: int) -> None:
    service = ForwardingService("queue", f"http://127.0.0.1:{backend}")
    chunks = [b"a" * 70000, b"b" * 30000]

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    send = Recorder()
    headers = [
        (b"host", b"devstoreaccount1.queue.core.windows.net:8080"),
        (b"authorization", b"SharedKey a:b"),
        (b"content-length", b"100000"),
        (b"connection", b"keep-alive"),
    ]
    await service.handle(scope(b"/devstoreaccount1/q%2Fx/messages", b"comp=list&x=%20", headers), receive, send)
    await service.stop()
    start = send.messages[0]
    assert start["status"] == 201
    names = [k for k, _ in start["headers"]]
    assert b"x-custom" in names and b"x-ms-request-id" not in names
    body = b"".join(m.get("body", b"") for m in send.messages[1:])
    assert body == (
        b"PUT|/devstoreaccount1/q%2Fx/messages|comp=list&x=%20|"
        b"devstoreaccount1.queue.core.windows.net:8080|SharedKey a:b|100000"
    )
    assert send.messages[-1]["more_body"] is False


async def test_a_dead_backend_answers_server_busy_and_opens_the_breaker() -> None:
    service = ForwardingService("queue", f"http://127.0.0.1:{free_port()}", breaker=CircuitBreaker("q", threshold=2))

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    for _ in range(2):
        with pytest.raises(ServerBusy):
            await service.handle(scope(b"/a", b"", [(b"host", b"x")]), receive, Recorder())
    assert service.breaker.state is BreakerState.OPEN
    with pytest.raises(ServerBusy) as raised:
        await service.handle(scope(b"/a", b"", [(b"host", b"x")]), receive, Recorder())
    assert raised.value.status == 503 and raised.value.code == "ServerBusy"
    await service.stop()


async def test_a_backends_own_metrics_come_from_its_port() -> None:
    """As in Docker mode: the container's gateway serves its service's families on the service's
    port, and the forwarding service in front of it reads them for the control plane's scrape."""
    inside = CountingService(sent=4)
    slots = {"demo": SimpleNamespace(service=inside, backend=None)}
    gateway = Gateway(slots, HostRouter([]), InFlight(), dict, metrics=GatewayMetrics(slots, inflight=lambda: 0))
    listener = HttpListener(gateway.port_app("demo"), bind("127.0.0.1", 0), "demo")
    await listener.start()
    service = ForwardingService("demo", f"http://127.0.0.1:{listener.port}")

    families = await asyncio.to_thread(service.metrics)

    assert render_families(families) == render_families(inside.metrics())
    for _ in range(service.breaker.threshold):
        service.breaker.failure()
    assert service.breaker.state is BreakerState.OPEN
    assert await asyncio.to_thread(service.metrics) == []  # not asked while its breaker is open
    await service.stop()
    await listener.stop(1)


async def test_a_backend_without_metrics_has_none(backend: int) -> None:
    # The echo backend answers with something other than metrics, as Azurite answers that path with an error.
    service = ForwardingService("blob", f"http://127.0.0.1:{backend}")
    assert await asyncio.to_thread(service.metrics) == []
    dead = ForwardingService("blob", f"http://127.0.0.1:{free_port()}")
    assert await asyncio.to_thread(dead.metrics) == []


class ReportingService(CountingService):
    def health(self) -> dict[str, object]:
        return {"entities": {"orders": {"active": 2}}, "messages_in": 3}


async def test_a_backends_own_details_come_from_its_port(backend: int) -> None:
    """As in Docker mode: the container's gateway answers its service's details on the service's
    port, and the forwarding service in front of it adds them to its own."""
    inside = ReportingService(sent=0)
    slots = {"demo": SimpleNamespace(service=inside, backend=None)}
    gateway = Gateway(slots, HostRouter([]), InFlight(), dict)
    listener = HttpListener(gateway.port_app("demo"), bind("127.0.0.1", 0), "demo")
    await listener.start()
    service = ForwardingService("demo", f"http://127.0.0.1:{listener.port}")

    details = await asyncio.to_thread(service.health)

    assert details == {"backend": service.backend, "circuit": "closed", **inside.health()}
    await service.stop()
    await listener.stop(1)
    # The echo backend answers that path with something else, as Azurite answers it with an error.
    plain = ForwardingService("blob", f"http://127.0.0.1:{backend}")
    assert await asyncio.to_thread(plain.health) == {"backend": plain.backend, "circuit": "closed"}


def _pass_through_to(backend: asyncio.Server) -> AmqpHandler:
    """The AMQP pass-through of a Docker-mode Service Bus whose container is ``backend``."""
    service = ForwardingService(
        "servicebus", f"http://127.0.0.1:{backend.sockets[0].getsockname()[1]}", speaks_amqp=True
    )
    handler = service.amqp()
    assert handler is not None
    return handler


async def test_tcp_pass_through_pipes_both_ways() -> None:
    async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    backend = await asyncio.start_server(upper, "127.0.0.1", 0)
    relay = await asyncio.start_server(_pass_through_to(backend), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.sockets[0].getsockname()[1])
    writer.write(b"amqp frame")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(100), 5) == b"AMQP FRAME"
    writer.close()
    relay.close()
    backend.close()
    assert ForwardingService("queue", "http://127.0.0.1:1").amqp() is None


async def test_tcp_pass_through_ends_when_the_backend_closes_though_the_client_stays() -> None:
    """A WebSocket client cannot half-close: the backend's end has to end the relay."""

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    backend = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    handler = _pass_through_to(backend)
    relayed = asyncio.Event()

    async def relay_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handler(reader, writer)
        relayed.set()

    relay = await asyncio.start_server(relay_one, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.sockets[0].getsockname()[1])
    writer.write(b"bad frame")
    await writer.drain()
    await asyncio.wait_for(relayed.wait(), 5)  # while the client's side is still open
    assert await asyncio.wait_for(reader.read(100), 5) == b""
    writer.close()
    relay.close()
    backend.close()
