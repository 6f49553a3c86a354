"""The connection engine, driven frame by frame: handshake and SASL, sessions and links, credit and
drain, multi-frame deliveries both ways, settlement, heartbeats and idle timeout, refusals, and
closing with the right error (never a crash) on input that breaks the protocol.

Every test runs twice: with the gateway's pushing reader (reads handled in ``data_received``
until one has to wait) and with a plain one (every read through the connection's task)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest

from adapters.servicebus.amqp.application import Application, InboundHandler, OutboundHandler
from adapters.servicebus.amqp.connection import Connection, ConnectionSettings, serve
from adapters.servicebus.amqp.errors import AmqpError
from adapters.servicebus.amqp.frames import AMQP_HEADER, SASL_HEADER, encode_frame
from adapters.servicebus.amqp.link import InboundLink, IncomingDelivery, Link, OutboundLink, OutgoingDelivery
from adapters.servicebus.amqp.message import BATCH_MESSAGE_FORMAT, Message, Properties
from adapters.servicebus.amqp.outcomes import Accepted, Modified, Rejected, rejected
from adapters.servicebus.amqp.performatives import (
    ROLE_RECEIVER,
    ROLE_SENDER,
    SND_SETTLED,
    Attach,
    Begin,
    Close,
    Detach,
    Disposition,
    End,
    Flow,
    Open,
    SaslInit,
    Transfer,
)
from adapters.servicebus.amqp.sasl import SaslCredentials
from adapters.servicebus.amqp.terminus import Source, Target
from tests.unit.adapters.servicebus.amqp import raw_client
from tests.unit.adapters.servicebus.amqp.raw_client import RawClient, running


@pytest.fixture(autouse=True, params=["pushed", "pulled"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(raw_client, "PUSHED", request.param == "pushed")
    return str(request.param)


class Inbound(InboundHandler):
    def __init__(self, outcome: Any = None) -> None:
        self.outcome = outcome if outcome is not None else (lambda delivery: Accepted())
        self.deliveries: list[IncomingDelivery] = []
        self.detached: list[AmqpError | None] = []

    def on_transfer(self, delivery: IncomingDelivery) -> Any:
        self.deliveries.append(delivery)
        return self.outcome(delivery)

    def on_detach(self, link: InboundLink, error: AmqpError | None) -> None:
        self.detached.append(error)


class Outbound(OutboundHandler):
    def __init__(self, messages: list[Message] | None = None, reply: Any = None) -> None:
        self.queue = deque(messages or ())
        self.reply = reply
        self.flows: list[tuple[int, bool]] = []
        self.reported: list[OutgoingDelivery] = []
        self.detached: list[AmqpError | None] = []
        self.link: OutboundLink | None = None

    def on_flow(self, link: OutboundLink) -> None:
        self.link = link
        self.flows.append((link.credit, link.drain))
        while link.credit and self.queue:
            link.send(self.queue.popleft(), tag=f"tag{link.delivery_count}".encode())

    def on_disposition(self, delivery: OutgoingDelivery) -> Any:
        self.reported.append(delivery)
        return self.reply(delivery) if self.reply else delivery.remote_state

    def on_detach(self, link: OutboundLink, error: AmqpError | None) -> None:
        self.detached.append(error)


class App(Application):
    def __init__(self, *handlers: Any, allow: bool = True) -> None:
        self.handlers = deque(handlers)
        self.allow = allow
        self.links: list[Link] = []
        self.credentials: list[SaslCredentials] = []
        self.closed: list[AmqpError | None] = []
        self.connections: list[Connection] = []

    def authenticate(self, connection: Connection, credentials: SaslCredentials) -> bool:
        self.credentials.append(credentials)
        return self.allow

    def on_open(self, connection: Connection) -> None:
        self.connections.append(connection)

    def on_attach(self, link: Link) -> Any:
        self.links.append(link)
        handler = self.handlers.popleft()
        if isinstance(handler, BaseException):
            raise handler
        return (
            handler(link)
            if callable(handler) and not isinstance(handler, InboundHandler | OutboundHandler)
            else handler
        )

    def on_close(self, connection: Connection, error: AmqpError | None) -> None:
        self.closed.append(error)


def sender_attach(handle: int = 0, address: str = "queue", **fields: Any) -> Attach:
    defaults = {"source": Source(address="client"), "target": Target(address=address), "initial_delivery_count": 0}
    return Attach(name=f"sender-{handle}", handle=handle, role=ROLE_SENDER, **{**defaults, **fields})


def receiver_attach(handle: int = 0, address: str = "queue", **fields: Any) -> Attach:
    defaults = {"source": Source(address=address), "target": Target(address="client")}
    return Attach(name=f"receiver-{handle}", handle=handle, role=ROLE_RECEIVER, **{**defaults, **fields})


def message(body: bytes = b"payload", message_id: str = "m") -> bytes:
    return Message(data=body, properties=Properties(message_id=message_id)).encode()


def transfers(*bodies: bytes) -> bytes:
    """One transfer per message on handle 0, delivery ids from 0, written at once (one read)."""
    return b"".join(
        encode_frame(0, Transfer(handle=0, delivery_id=i, delivery_tag=bytes([i]), message_format=0), message(body))
        for i, body in enumerate(bodies)
    )


async def attached_sender(client: RawClient, idle_time_out: int | None = None, **fields: Any) -> Flow:
    await client.open(idle_time_out=idle_time_out)
    await client.begin()
    client.send(sender_attach(**fields))
    reply = await client.expect(Attach)
    assert reply.role == ROLE_RECEIVER and reply.target.address == "queue"
    return await client.expect(Flow)


# ---- handshake ---------------------------------------------------------------------------


async def test_sasl_then_amqp_and_open() -> None:
    app = App()
    async with running(app) as server:
        client = await server.connect()
        outcome = await client.sasl("PLAIN", b"\x00RootManageSharedAccessKey\x00SAS_KEY_VALUE")
        assert outcome.code == 0
        opened = await client.open(max_frame_size=4096, idle_time_out=60000)

        assert opened.container_id == "localzure-servicebus"
        assert opened.max_frame_size == 65536 and opened.idle_time_out == 120000
        assert app.credentials[0].username == "RootManageSharedAccessKey"
        assert app.credentials[0].password == "SAS_KEY_VALUE"
        connection = app.connections[0]
        assert connection.sasl == app.credentials[0] and connection.remote_container_id == "raw-client"
        assert connection.remote_max_frame_size == 4096 and connection.remote_idle_timeout == 60.0
        client.send(Close())
        assert (await client.expect(Close)).error is None
        await server.wait_finished()
        assert app.closed == [None]


async def test_mechanisms_offered_and_refusal() -> None:
    app = App(allow=False)
    async with running(app) as server:
        client = await server.connect()
        client.write(SASL_HEADER)
        assert await client.header() == SASL_HEADER
        _, mechanisms, _ = await client.frame()
        assert mechanisms.sasl_server_mechanisms == ["MSSBCBS", "PLAIN", "ANONYMOUS"]
        client.send(SaslInit(mechanism="ANONYMOUS"), frame_type=1)
        _, outcome, _ = await client.frame()
        assert outcome.code == 1
        assert await client.closed()
        await server.wait_finished()


async def test_an_unknown_mechanism_is_refused() -> None:
    async with running(App()) as server:
        client = await server.connect()
        assert (await client.sasl("EXTERNAL")).code == 1


async def test_amqp_without_sasl_is_served() -> None:
    async with running(App()) as server:
        client = await server.connect()
        assert (await client.open()).container_id == "localzure-servicebus"


async def test_a_fully_pipelined_handshake_is_answered_without_waiting_for_more_bytes() -> None:
    # SASL init, the AMQP header, open and begin all in one write, before reading anything.
    async with running(App()) as server:
        client = await server.connect()
        client.write(
            SASL_HEADER
            + encode_frame(0, SaslInit(mechanism="ANONYMOUS"), frame_type=1)
            + AMQP_HEADER
            + encode_frame(0, Open(container_id="pipelined"))
            + encode_frame(0, Begin(next_outgoing_id=0, incoming_window=10, outgoing_window=10))
        )
        assert await client.header() == SASL_HEADER
        await client.frame()  # mechanisms
        _, outcome, _ = await client.frame()
        assert outcome.code == 0
        assert await client.header() == AMQP_HEADER
        assert (await client.expect(Open)).container_id == "localzure-servicebus"
        assert (await client.expect(Begin)).remote_channel == 0


async def test_a_protocol_we_do_not_speak_gets_our_header_and_a_closed_socket() -> None:
    async with running(App()) as server:
        client = await server.connect()
        client.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await client.header() == AMQP_HEADER
        assert await client.closed()
        await server.wait_finished()


# ---- errors close the connection, never crash it -------------------------------------------


@pytest.mark.parametrize(
    ("frame", "condition"),
    [
        (bytes.fromhex("0000000902000000") + b"\xff", "amqp:decode-error"),
        (bytes.fromhex("0000000c02000000") + bytes.fromhex("005314c0"), "amqp:decode-error"),
        (bytes.fromhex("0000000b02000000") + bytes.fromhex("a10178"), "amqp:decode-error"),
        (bytes.fromhex("0001000102000000"), "amqp:connection:framing-error"),
        (
            encode_frame(5, Begin(remote_channel=3, next_outgoing_id=0, incoming_window=1, outgoing_window=1)),
            "amqp:not-allowed",
        ),
    ],
    ids=["unknown constructor", "truncated performative", "not a performative", "over max-frame-size", "bad begin"],
)
async def test_bad_frames_close_the_connection_with_an_error(frame: bytes, condition: str) -> None:
    inbound = Inbound()
    app = App(inbound)
    async with running(app) as server:
        client = await server.connect()
        await attached_sender(client)
        client.write(frame)
        close = await client.expect(Close)
        assert close.error.condition == condition
        assert await client.closed()
        await server.wait_finished()
        assert inbound.detached == [close.error] and app.closed == [close.error]


async def test_a_frame_before_open_is_an_illegal_state() -> None:
    async with running(App()) as server:
        client = await server.connect()
        client.write(AMQP_HEADER)
        await client.header()
        client.send(Begin(next_outgoing_id=0, incoming_window=1, outgoing_window=1))
        assert (await client.expect(Open)).container_id
        assert (await client.expect(Close)).error.condition == "amqp:illegal-state"


async def test_a_socket_dropped_mid_frame_just_ends_the_connection() -> None:
    inbound = Inbound()
    app = App(inbound)
    async with running(app) as server:
        client = await server.connect()
        await attached_sender(client)
        client.write(bytes.fromhex("0000010002000000") + b"partial")
        client.writer.close()
        await server.wait_finished()
        assert inbound.detached == [None] and app.closed == [None]


# ---- heartbeats and idle timeout ---------------------------------------------------------------


async def test_empty_frames_are_sent_at_half_the_clients_idle_timeout() -> None:
    async with running(App()) as server:
        client = await server.connect()
        await client.open(idle_time_out=200)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(3):
            _, performative, _ = await client.frame(heartbeats=True)
            assert performative is None
        assert loop.time() - start < 0.6


async def test_a_silent_client_is_closed_with_resource_limit_exceeded() -> None:
    async with running(App(), ConnectionSettings(idle_timeout=0.2, close_timeout=0.1)) as server:
        client = await server.connect()
        opened = await client.open()
        assert opened.idle_time_out == 200
        close = await client.expect(Close)
        assert close.error.condition == "amqp:resource-limit-exceeded"
        assert await client.closed()
        await server.wait_finished()


# ---- sessions ---------------------------------------------------------------------------------


async def test_begin_is_answered_on_our_channel_with_windows() -> None:
    async with running(App()) as server:
        client = await server.connect()
        await client.open()
        client.send(Begin(next_outgoing_id=5, incoming_window=10, outgoing_window=10), channel=3)
        channel, begin, _ = await client.frame()
        assert channel == 0 and begin.remote_channel == 3
        assert begin.next_outgoing_id == 0 and begin.incoming_window == 8192 and begin.outgoing_window == 8192
        client.send(End(), channel=3)
        assert await client.expect(End) == End()


async def test_frames_after_the_clients_end_are_dropped_but_a_never_begun_channel_is_an_error() -> None:
    async with running(App(Inbound(), Outbound())) as server:
        client = await server.connect()
        await attached_sender(client)
        client.send(End())
        await client.expect(End)
        client.send(Detach(handle=0, closed=True))
        client.send(Begin(next_outgoing_id=0, incoming_window=10, outgoing_window=10))
        assert (await client.expect(Begin)).remote_channel == 0  # the connection lives on
        client.send(Detach(handle=0, closed=True), channel=7)
        assert (await client.expect(Close)).error.condition == "amqp:illegal-state"


async def test_ending_a_session_detaches_its_links() -> None:
    inbound, outbound = Inbound(), Outbound()
    async with running(App(inbound, outbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        client.send(receiver_attach(handle=1))
        await client.expect(Attach)
        client.send(End(error=AmqpError("amqp:internal-error", "client gave up")))
        await client.expect(End)
        assert inbound.detached == [AmqpError("amqp:internal-error", "client gave up")]
        assert outbound.detached == inbound.detached


# ---- links we receive on ------------------------------------------------------------------------


async def test_deliveries_are_accepted_settled_and_credit_replenished() -> None:
    inbound = Inbound()
    async with running(App(inbound), ConnectionSettings(link_credit=4)) as server:
        client = await server.connect()
        flow = await attached_sender(client)
        assert (flow.handle, flow.link_credit, flow.delivery_count) == (0, 4, 0)
        for delivery_id in range(3):
            tag = bytes([delivery_id])
            client.send(Transfer(handle=0, delivery_id=delivery_id, delivery_tag=tag, message_format=0), 0, message())
        disposition = await client.expect(Disposition)
        assert (disposition.role, disposition.first, disposition.last) == (ROLE_RECEIVER, 0, 2)
        assert disposition.settled is True and disposition.state == Accepted()
        flow = await client.expect(Flow)
        assert (flow.handle, flow.delivery_count, flow.link_credit) == (0, 3, 4)
        assert [d.tag for d in inbound.deliveries] == [b"\x00", b"\x01", b"\x02"]
        assert inbound.deliveries[0].message.properties.message_id == "m"


class DurableApp(App):
    """An application with a durability barrier, which the test opens (or fails), after each read
    that brought deliveries."""

    def __init__(self, inbound: Inbound) -> None:
        super().__init__(inbound)
        self.inbound = inbound
        self.barriers: list[asyncio.Future[None]] = []
        self._seen = 0

    def durable(self) -> asyncio.Future[None] | None:
        if len(self.inbound.deliveries) == self._seen:
            return None
        self._seen = len(self.inbound.deliveries)
        self.barriers.append(asyncio.get_running_loop().create_future())
        return self.barriers[-1]

    async def first_barrier(self) -> asyncio.Future[None]:
        async with asyncio.timeout(5):
            while not self.barriers:
                await asyncio.sleep(0.01)
        return self.barriers[0]


async def test_outcomes_are_written_only_once_the_applications_barrier_is_passed() -> None:
    inbound = Inbound()
    app = DurableApp(inbound)
    async with running(app) as server:
        client = await server.connect()
        await attached_sender(client)
        client.write(transfers(b"one", b"two"))
        barrier = await app.first_barrier()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.frame(), 0.2)  # held: the changes are not durable yet
        assert len(inbound.deliveries) == 2 and len(app.barriers) == 1  # one barrier for the read
        barrier.set_result(None)
        disposition = await client.expect(Disposition)
        assert (disposition.first, disposition.last, disposition.state) == (0, 1, Accepted())


async def test_a_failed_barrier_drops_the_connection_without_the_outcomes() -> None:
    inbound = Inbound()
    app = DurableApp(inbound)
    async with running(app) as server:
        client = await server.connect()
        await attached_sender(client)
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"t", message_format=0), 0, message())
        (await app.first_barrier()).set_exception(OSError("disk full"))
        assert await client.closed()
        assert not client.buffer.next_frame()  # nothing was answered
        await server.wait_finished()


async def test_a_barrier_that_fails_at_once_drops_the_connection_without_the_outcomes() -> None:
    class FailingApp(App):
        def durable(self) -> None:
            if inbound.deliveries:
                raise OSError("disk full")

    inbound = Inbound()
    async with running(FailingApp(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        client.write(transfers(b"one"))
        assert await client.closed()
        assert not client.buffer.next_frame()
        await server.wait_finished()
    assert len(inbound.deliveries) == 1


async def test_a_read_arriving_while_an_earlier_one_waits_is_handled_after_it() -> None:
    """The second read comes while the first one's delivery is still being settled: its delivery
    reaches the handler, and its outcome the client, only after the first's."""
    release = asyncio.Event()

    async def held() -> Accepted:
        await release.wait()
        return Accepted()

    inbound = Inbound(lambda delivery: held() if delivery.message.body == b"held" else Accepted())
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        client.write(transfers(b"held"))
        async with asyncio.timeout(5):
            while not inbound.deliveries:
                await asyncio.sleep(0.01)
        client.send(Transfer(handle=0, delivery_id=1, delivery_tag=b"\x01", message_format=0), 0, message(b"next"))
        await asyncio.sleep(0.1)
        assert [d.message.body for d in inbound.deliveries] == [b"held"]
        release.set()
        first = await client.expect(Disposition)
        second = await client.expect(Disposition)
        assert (first.first, second.first) == (0, 1)
        assert [d.message.body for d in inbound.deliveries] == [b"held", b"next"]


async def test_a_flush_while_a_frame_is_awaited_does_not_write_the_reads_outcomes_early() -> None:
    """Heartbeats fall due while a later frame of the read is still being handled: they go out,
    the outcome of the read's first delivery waits for the barrier."""

    async def slow() -> Accepted:
        await asyncio.sleep(0.3)
        return Accepted()

    inbound = Inbound(lambda delivery: slow() if delivery.message.body == b"slow" else Accepted())
    app = DurableApp(inbound)
    async with running(app) as server:
        client = await server.connect()
        await attached_sender(client, idle_time_out=100)
        client.write(transfers(b"fast", b"slow"))
        barrier = await app.first_barrier()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                while True:
                    _, performative, _ = await client.frame(heartbeats=True)
                    assert performative is None  # heartbeats only: no outcome before the barrier
        barrier.set_result(None)
        disposition = await client.expect(Disposition)
        assert (disposition.first, disposition.last, disposition.state) == (0, 1, Accepted())


async def test_settled_deliveries_reach_the_handler_without_a_disposition() -> None:
    inbound = Inbound()
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"a", settled=True), 0, message(b"one"))
        client.send(Transfer(handle=0, delivery_id=1, delivery_tag=b"b"), 0, message(b"two"))
        disposition = await client.expect(Disposition)
        assert disposition.first == 1 and disposition.last is None
        assert [d.message.body for d in inbound.deliveries] == [b"one", b"two"]
        assert inbound.deliveries[0].settled is True


async def test_multi_frame_deliveries_are_assembled_and_aborted_ones_dropped() -> None:
    inbound = Inbound()
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        payload = message(b"x" * 5000)
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"big", more=True), 0, payload[:1000])
        client.send(Transfer(handle=0, more=True), 0, payload[1000:3000])
        client.send(Transfer(handle=0), 0, payload[3000:])
        client.send(Transfer(handle=0, delivery_id=1, delivery_tag=b"gone", more=True), 0, payload[:10])
        client.send(Transfer(handle=0, aborted=True), 0)
        client.send(Transfer(handle=0, delivery_id=2, delivery_tag=b"next"), 0, message(b"next"))
        first = await client.expect(Disposition)
        second = await client.expect(Disposition)
        assert (first.first, second.first) == (0, 2)
        assert [d.tag for d in inbound.deliveries] == [b"big", b"next"]
        assert inbound.deliveries[0].payload == payload
        assert inbound.deliveries[0].message.body == b"x" * 5000


async def test_oversized_deliveries_are_rejected_without_reaching_the_handler() -> None:
    inbound = Inbound()
    async with running(App(inbound), ConnectionSettings(max_message_size=1000)) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(sender_attach())
        assert (await client.expect(Attach)).max_message_size == 1000
        await client.expect(Flow)
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"a"), 0, message(b"x" * 2000))
        client.send(Transfer(handle=0, delivery_id=1, delivery_tag=b"b", more=True), 0, b"y" * 800)
        client.send(Transfer(handle=0), 0, b"y" * 800)
        disposition = await client.expect(Disposition)  # one range: same outcome for both
        assert (disposition.first, disposition.last, disposition.settled) == (0, 1, True)
        assert disposition.state.error.condition == "amqp:link:message-size-exceeded"
        assert inbound.deliveries == []


async def test_outcomes_rejections_deferred_and_async_settlement() -> None:
    later: list[IncomingDelivery] = []

    async def slow(delivery: IncomingDelivery) -> Any:
        await asyncio.sleep(0.01)
        return Modified(delivery_failed=True)

    def decide(delivery: IncomingDelivery) -> Any:
        body = delivery.message.body
        if body == b"reject":
            raise AmqpError("amqp:not-found", "no entity")
        if body == b"crash":
            raise RuntimeError("bug")
        if body == b"later":
            later.append(delivery)
            return None
        if body == b"slow":
            return slow(delivery)
        return rejected("com.microsoft:message-lock-lost", "lost")

    inbound = Inbound(decide)
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        for delivery_id, body in enumerate([b"reject", b"crash", b"later", b"slow", b"other"]):
            client.send(Transfer(handle=0, delivery_id=delivery_id, delivery_tag=body), 0, message(body))
        states = {}
        for _ in range(4):
            disposition = await client.expect(Disposition)
            states[disposition.first] = disposition.state
        assert states[0] == Rejected(error=AmqpError("amqp:not-found", "no entity"))
        assert states[1].error.condition == "amqp:internal-error"
        assert states[3] == Modified(delivery_failed=True)
        assert states[4].error.condition == "com.microsoft:message-lock-lost"
        later[0].settle(Accepted())
        disposition = await client.expect(Disposition)
        assert (disposition.first, disposition.state) == (2, Accepted())


async def test_a_transfer_without_credit_detaches_the_link() -> None:
    inbound = Inbound()
    async with running(App(inbound), ConnectionSettings(link_credit=1)) as server:
        client = await server.connect()
        await attached_sender(client)
        inbound_link = server.app.links[0]
        inbound_link.auto_credit = False
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"a", settled=True), 0, message())
        client.send(Transfer(handle=0, delivery_id=1, delivery_tag=b"b", settled=True), 0, message())
        detach = await client.expect(Detach)
        assert detach.closed and detach.error.condition == "amqp:link:transfer-limit-exceeded"
        assert len(inbound.deliveries) == 1 and inbound.detached == [detach.error]


async def test_handler_controlled_credit() -> None:
    inbound = Inbound()

    def manual(link: Link) -> Inbound:
        link.auto_credit = False  # type: ignore[attr-defined]
        link.credit_window = 0  # type: ignore[attr-defined]
        return inbound

    async with running(App(manual)) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(sender_attach())
        await client.expect(Attach)
        server.app.links[0].grant(2)
        flow = await client.expect(Flow)
        assert flow.link_credit == 2


async def test_a_batch_splits_into_its_messages() -> None:
    inbound = Inbound()
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        inner = [message(f"body {i}".encode(), f"id{i}") for i in range(3)]
        batch = Message(data=inner).encode()
        client.send(Transfer(handle=0, delivery_id=0, delivery_tag=b"t", message_format=BATCH_MESSAGE_FORMAT), 0, batch)
        await client.expect(Disposition)
        delivery = inbound.deliveries[0]
        assert delivery.message_format == BATCH_MESSAGE_FORMAT
        assert [m.properties.message_id for m in delivery.messages()] == ["id0", "id1", "id2"]


async def test_refused_attach_is_an_attach_without_terminus_then_a_detach_with_the_error() -> None:
    app = App(AmqpError("amqp:not-found", "The messaging entity 'sb://x/nope' could not be found."), Inbound())
    async with running(app) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(sender_attach(address="nope"))
        reply = await client.expect(Attach)
        assert reply.target is None and reply.source is not None and reply.name == "sender-0"
        detach = await client.expect(Detach)
        assert detach.handle == reply.handle and detach.closed
        assert detach.error.condition == "amqp:not-found" and "could not be found" in detach.error.description
        client.send(Detach(handle=0, closed=True))
        client.send(sender_attach(handle=0))  # the handle is free again
        assert (await client.expect(Attach)).target.address == "queue"


async def test_an_attach_handler_that_fails_refuses_with_internal_error() -> None:
    async with running(App(RuntimeError("bug"), lambda link: "not a handler")) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(receiver_attach(handle=0))
        assert (await client.expect(Attach)).source is None
        assert (await client.expect(Detach)).error.condition == "amqp:internal-error"
        client.send(receiver_attach(handle=1))
        await client.expect(Attach)
        assert (await client.expect(Detach)).error.condition == "amqp:internal-error"


async def test_async_attach_and_reply_fields_set_by_the_application() -> None:
    async def attach(link: Link) -> Outbound:
        await asyncio.sleep(0)
        link.source.filter = {"com.microsoft:session-filter": "session-7"}  # type: ignore[union-attr]
        link.properties = {"com.microsoft:locked-until-utc": 1}
        return Outbound()

    async with running(App(attach)) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(receiver_attach(source=Source(address="q", filter={"com.microsoft:session-filter": None})))
        reply = await client.expect(Attach)
        assert reply.source.filter == {"com.microsoft:session-filter": "session-7"}
        assert reply.properties == {"com.microsoft:locked-until-utc": 1}
        assert reply.initial_delivery_count == 0 and reply.role == ROLE_SENDER


async def test_transfer_on_an_unattached_handle_ends_the_session() -> None:
    async with running(App()) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(Transfer(handle=9, delivery_id=0, delivery_tag=b"a"), 0, message())
        assert (await client.expect(End)).error.condition == "amqp:session:unattached-handle"


async def test_client_detach_is_answered_and_reported() -> None:
    inbound = Inbound()
    async with running(App(inbound)) as server:
        client = await server.connect()
        await attached_sender(client)
        client.send(Detach(handle=0, closed=True, error=AmqpError("amqp:link:detach-forced", "bye")))
        reply = await client.expect(Detach)
        assert reply.closed and reply.error is None
        assert inbound.detached == [AmqpError("amqp:link:detach-forced", "bye")]


# ---- links we send on -------------------------------------------------------------------------


async def open_receiver(client: RawClient, credit: int, window: int = 1000, **fields: Any) -> Attach:
    await client.open(**fields.pop("open", {}))
    await client.begin(incoming_window=window)
    client.send(receiver_attach(**fields))
    reply = await client.expect(Attach)
    client.send(
        Flow(next_incoming_id=0, incoming_window=window, next_outgoing_id=0, outgoing_window=1000,
             handle=0, delivery_count=0, link_credit=credit)
    )  # fmt: skip
    return reply


async def test_messages_are_sent_within_credit_and_dispositions_answered() -> None:
    messages = [Message(data=f"m{i}".encode()) for i in range(3)]
    outbound = Outbound(messages, reply=lambda d: rejected("com.microsoft:message-lock-lost", "expired"))
    async with running(App(outbound)) as server:
        client = await server.connect()
        await open_receiver(client, credit=2)
        transfers = [await client.frame() for _ in range(2)]
        assert [t[1].delivery_tag for t in transfers] == [b"tag0", b"tag1"]
        assert [t[1].delivery_id for t in transfers] == [0, 1]
        assert [Message.decode(t[2]).body for t in transfers] == [b"m0", b"m1"]
        assert all(t[1].settled is False for t in transfers)
        assert outbound.link is not None and outbound.link.credit == 0 and len(outbound.queue) == 1

        client.send(Disposition(role=ROLE_RECEIVER, first=0, state=Accepted()))
        answer = await client.expect(Disposition)
        assert (answer.role, answer.first, answer.settled) == (ROLE_SENDER, 0, True)
        assert answer.state.error.condition == "com.microsoft:message-lock-lost"
        assert outbound.reported[0].remote_state == Accepted() and not outbound.reported[0].remote_settled

        client.send(Disposition(role=ROLE_RECEIVER, first=1, last=1, settled=True, state=Accepted()))
        client.send(Detach(handle=0, closed=True))
        await client.expect(Detach)
        assert outbound.reported[1].remote_settled and outbound.detached == [None]
        assert outbound.link.unsettled == {}


async def test_a_range_disposition_settles_every_delivery_in_it() -> None:
    outbound = Outbound([Message(data=b"x") for _ in range(5)])
    async with running(App(outbound)) as server:
        client = await server.connect()
        await open_receiver(client, credit=5)
        for _ in range(5):
            await client.expect(Transfer)
        client.send(Disposition(role=ROLE_RECEIVER, first=1, last=3, state=Modified(delivery_failed=True)))
        answer = await client.expect(Disposition)
        assert (answer.first, answer.last, answer.settled) == (1, 3, True)
        assert answer.state == Modified(delivery_failed=True)
        assert sorted(outbound.link.unsettled) == [0, 4]


async def test_drain_uses_up_the_credit_left() -> None:
    outbound = Outbound([Message(data=b"only"), Message(data=b"two")])
    async with running(App(outbound)) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(receiver_attach())
        await client.expect(Attach)
        client.send(
            Flow(next_incoming_id=0, incoming_window=1000, next_outgoing_id=0, outgoing_window=1000,
                 handle=0, delivery_count=0, link_credit=5, drain=True)
        )  # fmt: skip
        await client.expect(Transfer)
        await client.expect(Transfer)
        flow = await client.expect(Flow)
        assert (flow.handle, flow.delivery_count, flow.link_credit, flow.drain) == (0, 5, 0, True)
        assert outbound.flows == [(5, True)]


async def test_echo_is_answered_with_the_link_state() -> None:
    async with running(App(Outbound())) as server:
        client = await server.connect()
        await client.open()
        await client.begin()
        client.send(receiver_attach())
        await client.expect(Attach)
        client.send(
            Flow(next_incoming_id=0, incoming_window=1000, next_outgoing_id=0, outgoing_window=1000,
                 handle=0, delivery_count=0, link_credit=7, echo=True)
        )  # fmt: skip
        flow = await client.expect(Flow)
        assert (flow.delivery_count, flow.link_credit) == (0, 7)


async def test_large_messages_are_split_by_the_clients_max_frame_size() -> None:
    body = bytes(range(256)) * 10
    outbound = Outbound([Message(data=body)])
    async with running(App(outbound)) as server:
        client = await server.connect()
        await open_receiver(client, credit=1, open={"max_frame_size": 512})
        frames = []
        while True:
            _, transfer, payload = await client.frame()
            assert len(transfer.encode()) + len(payload) + 8 <= 512
            frames.append((transfer, payload))
            if not transfer.more:
                break
        assert len(frames) > 5 and all(t.more for t, _ in frames[:-1])
        assert frames[0][0].delivery_tag == b"tag0"
        assert Message.decode(b"".join(p for _, p in frames)).body == body


async def test_the_clients_session_window_holds_transfers_back() -> None:
    outbound = Outbound([Message(data=f"m{i}".encode()) for i in range(3)])
    async with running(App(outbound)) as server:
        client = await server.connect()
        await open_receiver(client, credit=3, window=1)
        first = await client.expect(Transfer)
        assert first.delivery_id == 0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.frame(), 0.2)
        client.send(Flow(next_incoming_id=1, incoming_window=10, next_outgoing_id=0, outgoing_window=1000))
        assert [(await client.expect(Transfer)).delivery_id for _ in range(2)] == [1, 2]


async def test_settled_sends_and_sends_from_another_task() -> None:
    outbound = Outbound()

    def settled_mode(link: Link) -> Outbound:
        link.snd_settle_mode = SND_SETTLED
        return outbound

    async with running(App(settled_mode)) as server:
        client = await server.connect()
        reply = await open_receiver(client, credit=2)
        assert reply.snd_settle_mode == SND_SETTLED
        await asyncio.sleep(0.05)
        link = outbound.link
        assert link is not None
        delivery = link.send(Message(value="pushed"), tag=b"t")  # outside any callback: flushed on the next turn
        _, transfer, payload = await client.frame()
        assert transfer.settled is True and delivery.settled and Message.decode(payload).value == "pushed"
        link.detach(AmqpError("com.microsoft:session-lock-lost", "gone"))
        assert (await client.expect(Detach)).error.condition == "com.microsoft:session-lock-lost"
        assert outbound.detached[0].condition == "com.microsoft:session-lock-lost"
        with pytest.raises(Exception, match="not attached"):
            link.send(Message(value="late"), tag=b"u")


async def test_the_application_can_close_the_connection() -> None:
    app = App(Outbound())
    async with running(app) as server:
        client = await server.connect()
        await open_receiver(client, credit=1)
        await asyncio.sleep(0.05)
        app.connections[0].close(AmqpError("amqp:connection:forced", "shutting down"))
        close = await client.expect(Close)
        assert close.error.condition == "amqp:connection:forced"
        client.send(Close())
        await server.wait_finished()
        assert app.closed[0].condition == "amqp:connection:forced"


async def test_cancelling_serve_still_tells_every_handler_and_closes_the_socket() -> None:
    inbound = Inbound()
    app = App(inbound)
    tasks: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        await serve(reader, writer, app)

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        client = RawClient(*await asyncio.open_connection("127.0.0.1", listener.sockets[0].getsockname()[1]))
        await attached_sender(client)
        tasks[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        assert inbound.detached == [None] and app.closed == [None]
        assert await client.closed()
    finally:
        listener.close()
