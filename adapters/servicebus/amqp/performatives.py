"""Frame bodies: the nine AMQP performatives (part 2.7) and the SASL frames (part 5.3).

Field names, order, types and defaults are the spec's; a field the peer left out reads
back as its default (``None`` where the spec has none).
"""

from __future__ import annotations

from typing import Any

from .composite import (
    ANY,
    BINARY,
    BOOLEAN,
    ERROR,
    FIELDS,
    STRING,
    SYMBOL,
    SYMBOLS,
    UBYTE,
    UINT,
    ULONG,
    USHORT,
    Composite,
    Field,
)
from .errors import AmqpError

ROLE_SENDER = False
ROLE_RECEIVER = True

SND_UNSETTLED = 0
SND_SETTLED = 1
SND_MIXED = 2
RCV_FIRST = 0
RCV_SECOND = 1

UINT_MAX = 0xFFFFFFFF


class Open(Composite):
    DESCRIPTOR = 0x10
    NAME = "amqp:open:list"
    FIELDS = (
        Field("container_id", STRING),
        Field("hostname", STRING),
        Field("max_frame_size", UINT, UINT_MAX),
        Field("channel_max", USHORT, 0xFFFF),
        Field("idle_time_out", UINT),
        Field("outgoing_locales", SYMBOLS, multiple=True),
        Field("incoming_locales", SYMBOLS, multiple=True),
        Field("offered_capabilities", SYMBOLS, multiple=True),
        Field("desired_capabilities", SYMBOLS, multiple=True),
        Field("properties", FIELDS),
    )
    container_id: str
    hostname: str | None
    max_frame_size: int
    channel_max: int
    idle_time_out: int | None
    outgoing_locales: list[str] | None
    incoming_locales: list[str] | None
    offered_capabilities: list[str] | None
    desired_capabilities: list[str] | None
    properties: dict[str, Any] | None


class Begin(Composite):
    DESCRIPTOR = 0x11
    NAME = "amqp:begin:list"
    FIELDS = (
        Field("remote_channel", USHORT),
        Field("next_outgoing_id", UINT),
        Field("incoming_window", UINT),
        Field("outgoing_window", UINT),
        Field("handle_max", UINT, UINT_MAX),
        Field("offered_capabilities", SYMBOLS, multiple=True),
        Field("desired_capabilities", SYMBOLS, multiple=True),
        Field("properties", FIELDS),
    )
    remote_channel: int | None
    next_outgoing_id: int
    incoming_window: int
    outgoing_window: int
    handle_max: int
    offered_capabilities: list[str] | None
    desired_capabilities: list[str] | None
    properties: dict[str, Any] | None


class Attach(Composite):
    DESCRIPTOR = 0x12
    NAME = "amqp:attach:list"
    FIELDS = (
        Field("name", STRING),
        Field("handle", UINT),
        Field("role", BOOLEAN),
        Field("snd_settle_mode", UBYTE, SND_MIXED),
        Field("rcv_settle_mode", UBYTE, RCV_FIRST),
        Field("source", ANY),
        Field("target", ANY),
        Field("unsettled", ANY),
        Field("incomplete_unsettled", BOOLEAN, False),
        Field("initial_delivery_count", UINT),
        Field("max_message_size", ULONG),
        Field("offered_capabilities", SYMBOLS, multiple=True),
        Field("desired_capabilities", SYMBOLS, multiple=True),
        Field("properties", FIELDS),
    )
    name: str
    handle: int
    role: bool
    snd_settle_mode: int
    rcv_settle_mode: int
    source: Any
    target: Any
    unsettled: dict[Any, Any] | None
    incomplete_unsettled: bool
    initial_delivery_count: int | None
    max_message_size: int | None
    offered_capabilities: list[str] | None
    desired_capabilities: list[str] | None
    properties: dict[str, Any] | None


class Flow(Composite):
    DESCRIPTOR = 0x13
    NAME = "amqp:flow:list"
    FIELDS = (
        Field("next_incoming_id", UINT),
        Field("incoming_window", UINT),
        Field("next_outgoing_id", UINT),
        Field("outgoing_window", UINT),
        Field("handle", UINT),
        Field("delivery_count", UINT),
        Field("link_credit", UINT),
        Field("available", UINT),
        Field("drain", BOOLEAN, False),
        Field("echo", BOOLEAN, False),
        Field("properties", FIELDS),
    )
    next_incoming_id: int | None
    incoming_window: int
    next_outgoing_id: int
    outgoing_window: int
    handle: int | None
    delivery_count: int | None
    link_credit: int | None
    available: int | None
    drain: bool
    echo: bool
    properties: dict[str, Any] | None


class Transfer(Composite):
    DESCRIPTOR = 0x14
    NAME = "amqp:transfer:list"
    FIELDS = (
        Field("handle", UINT),
        Field("delivery_id", UINT),
        Field("delivery_tag", BINARY),
        Field("message_format", UINT),
        Field("settled", BOOLEAN),
        Field("more", BOOLEAN, False),
        Field("rcv_settle_mode", UBYTE),
        Field("state", ANY),
        Field("resume", BOOLEAN, False),
        Field("aborted", BOOLEAN, False),
        Field("batchable", BOOLEAN, False),
    )
    handle: int
    delivery_id: int | None
    delivery_tag: bytes | None
    message_format: int | None
    settled: bool | None
    more: bool
    rcv_settle_mode: int | None
    state: Any
    resume: bool
    aborted: bool
    batchable: bool


class Disposition(Composite):
    DESCRIPTOR = 0x15
    NAME = "amqp:disposition:list"
    FIELDS = (
        Field("role", BOOLEAN),
        Field("first", UINT),
        Field("last", UINT),
        Field("settled", BOOLEAN, False),
        Field("state", ANY),
        Field("batchable", BOOLEAN, False),
    )
    role: bool
    first: int
    last: int | None
    settled: bool
    state: Any
    batchable: bool


class Detach(Composite):
    DESCRIPTOR = 0x16
    NAME = "amqp:detach:list"
    FIELDS = (Field("handle", UINT), Field("closed", BOOLEAN, False), Field("error", ERROR))
    handle: int
    closed: bool
    error: AmqpError | None


class End(Composite):
    DESCRIPTOR = 0x17
    NAME = "amqp:end:list"
    FIELDS = (Field("error", ERROR),)
    error: AmqpError | None


class Close(Composite):
    DESCRIPTOR = 0x18
    NAME = "amqp:close:list"
    FIELDS = (Field("error", ERROR),)
    error: AmqpError | None


class SaslMechanisms(Composite):
    DESCRIPTOR = 0x40
    NAME = "amqp:sasl-mechanisms:list"
    FIELDS = (Field("sasl_server_mechanisms", SYMBOLS, multiple=True),)
    sasl_server_mechanisms: list[str]


class SaslInit(Composite):
    DESCRIPTOR = 0x41
    NAME = "amqp:sasl-init:list"
    FIELDS = (Field("mechanism", SYMBOL), Field("initial_response", BINARY), Field("hostname", STRING))
    mechanism: str
    initial_response: bytes | None
    hostname: str | None


SASL_OK = 0
SASL_AUTH = 1


class SaslOutcome(Composite):
    DESCRIPTOR = 0x44
    NAME = "amqp:sasl-outcome:list"
    FIELDS = (Field("code", UBYTE), Field("additional_data", BINARY))
    code: int
    additional_data: bytes | None
