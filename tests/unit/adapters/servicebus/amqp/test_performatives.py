"""Performatives, outcomes and terminus: hand-built bytes decode into the right fields (with the
spec's defaults for absent ones), and encoding leaves trailing absent fields out."""

from __future__ import annotations

from adapters.servicebus.amqp.decoding import decode
from adapters.servicebus.amqp.encoding import encode
from adapters.servicebus.amqp.errors import AmqpError
from adapters.servicebus.amqp.message import Header
from adapters.servicebus.amqp.outcomes import Accepted, Modified, Received, Rejected, Released, rejected
from adapters.servicebus.amqp.performatives import (
    Attach,
    Begin,
    Close,
    Detach,
    Disposition,
    End,
    Flow,
    Open,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    Transfer,
)
from adapters.servicebus.amqp.sasl import SaslCredentials
from adapters.servicebus.amqp.terminus import Source, Target
from adapters.servicebus.amqp.types import Symbol, symbols


def test_open_with_absent_fields_reads_their_defaults() -> None:
    open_ = decode(bytes.fromhex("005310c00b03a1026331407000000200"))
    assert isinstance(open_, Open)
    assert open_.container_id == "c1"
    assert open_.hostname is None
    assert open_.max_frame_size == 512
    assert open_.channel_max == 65535
    assert open_.idle_time_out is None
    assert open_.offered_capabilities is None


def test_a_single_symbol_where_several_are_allowed_reads_as_a_list() -> None:
    # open(container-id "c", 6 nulls, offered-capabilities = one symbol "x")
    open_ = decode(bytes.fromhex("005310c00d08a10163404040404040a30178"))
    assert open_.offered_capabilities == ["x"]


def test_transfer_from_the_spec_bytes() -> None:
    transfer = decode(bytes.fromhex("005314c00d06435205a00400000001434241"))
    assert isinstance(transfer, Transfer)
    assert (transfer.handle, transfer.delivery_id, transfer.delivery_tag) == (0, 5, b"\x00\x00\x00\x01")
    assert (transfer.message_format, transfer.settled, transfer.more) == (0, False, True)
    assert (transfer.resume, transfer.aborted, transfer.batchable, transfer.state) == (False, False, False, None)


def test_flow_from_the_spec_bytes() -> None:
    flow = decode(bytes.fromhex("005313c00e09520152644352644343520a4041"))
    assert isinstance(flow, Flow)
    assert (flow.next_incoming_id, flow.incoming_window, flow.next_outgoing_id, flow.outgoing_window) == (
        1,
        100,
        0,
        100,
    )
    assert (flow.handle, flow.delivery_count, flow.link_credit, flow.available) == (0, 0, 10, None)
    assert flow.drain is True and flow.echo is False


def test_encoding_leaves_trailing_absent_fields_out_and_writes_defaults() -> None:
    assert Detach(handle=1).encode().hex() == "005316c00402520142"
    assert Close().encode().hex() == "00531845"
    disposition = Disposition(role=True, first=3, settled=True, state=Accepted())
    assert disposition.encode().hex() == "005315c00b0641520340410053244542"
    assert Header(delivery_count=0).encode().hex() == "005370c00705425004404243"


def test_absent_fields_decode_to_their_defaults() -> None:
    header = decode(bytes.fromhex("005370c0020141"))
    assert (header.durable, header.priority, header.ttl, header.first_acquirer, header.delivery_count) == (
        True,
        4,
        None,
        False,
        0,
    )


def test_errors_travel_in_detach_end_close_and_rejected() -> None:
    error = AmqpError("amqp:unauthorized-access", "no token", {Symbol("tracking-id"): "t1"})
    for performative in (Detach(handle=0, closed=True, error=error), End(error=error), Close(error=error)):
        decoded = decode(performative.encode())
        assert decoded.error == error
        assert decoded.error.condition == "amqp:unauthorized-access" and decoded.error.description == "no token"
    assert decode(encode(rejected("amqp:not-found", "gone"))) == Rejected(error=AmqpError("amqp:not-found", "gone"))


def test_a_rejected_error_always_carries_an_info_map() -> None:
    # The Python SDK reads the rejected error's third field unconditionally: without it a
    # refused send never completes. Detach/end/close errors stay as short as they can be.
    wire = encode(rejected("amqp:not-found", "gone"))
    assert wire.endswith(bytes.fromhex("c10100"))  # the empty map closes the error's list
    assert decode(wire).error.info == {}
    assert (
        not Detach(handle=0, closed=True, error=AmqpError("amqp:not-found", "gone"))
        .encode()
        .endswith(bytes.fromhex("c10100"))
    )


def test_every_performative_round_trips() -> None:
    source = Source(
        address="amqps://host/queue",
        filter={Symbol("com.microsoft:session-filter"): "session-1"},
        outcomes=["amqp:accepted:list"],
        capabilities=symbols(["com.microsoft:session"]),
    )
    performatives = [
        Open(
            container_id="c",
            hostname="h",
            max_frame_size=65536,
            channel_max=10,
            idle_time_out=30000,
            desired_capabilities=symbols(["x"]),
            properties={"product": "p"},
        ),
        Begin(remote_channel=1, next_outgoing_id=0, incoming_window=5000, outgoing_window=5000, handle_max=255),
        Attach(
            name="link",
            handle=3,
            role=True,
            snd_settle_mode=1,
            rcv_settle_mode=1,
            source=source,
            target=Target(address="receiver-link"),
            initial_delivery_count=0,
            max_message_size=2**20,
            properties={"com.microsoft:timeout": 60000},
        ),
        Flow(
            next_incoming_id=1,
            incoming_window=10,
            next_outgoing_id=2,
            outgoing_window=10,
            handle=0,
            delivery_count=5,
            link_credit=100,
            drain=True,
            echo=True,
        ),
        Transfer(
            handle=1,
            delivery_id=2,
            delivery_tag=b"tag",
            message_format=0x80013700,
            settled=True,
            more=True,
            state=Received(section_number=0, section_offset=12),
        ),
        Disposition(
            role=False,
            first=1,
            last=9,
            settled=True,
            state=Modified(delivery_failed=True, undeliverable_here=False, message_annotations={"k": 1}),
        ),
        Disposition(role=True, first=0, state=Released()),
        Detach(handle=1, closed=True),
        End(),
        Close(),
        SaslMechanisms(sasl_server_mechanisms=symbols(["ANONYMOUS"])),
        SaslInit(mechanism="PLAIN", initial_response=b"\x00user\x00pass", hostname="h"),
        SaslOutcome(code=1),
    ]
    for performative in performatives:
        decoded = decode(performative.encode())
        assert decoded == performative, performative
    attach = decode(performatives[2].encode())
    assert attach.source.filter["com.microsoft:session-filter"] == "session-1"
    assert attach.source.capabilities == ["com.microsoft:session"]


def test_unknown_trailing_fields_from_a_newer_peer_are_ignored() -> None:
    # end with two fields: error null, then something this version does not define
    assert decode(bytes.fromhex("005317c00402405201")) == End()


def test_plain_credentials_are_split_per_rfc_4616() -> None:
    credentials = SaslCredentials.from_init(SaslInit(mechanism="PLAIN", initial_response=b"admin\x00user\x00secret"))
    assert (credentials.authzid, credentials.username, credentials.password) == ("admin", "user", "secret")
    anonymous = SaslCredentials.from_init(SaslInit(mechanism="ANONYMOUS", hostname="ns.servicebus.windows.net"))
    assert anonymous.username is None and anonymous.hostname == "ns.servicebus.windows.net"
