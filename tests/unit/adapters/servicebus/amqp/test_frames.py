"""Framing: frame headers as the spec lays them out, cutting a stream into frames, and refusing
frames that cannot be honoured."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from adapters.servicebus.amqp.errors import AmqpError, DecodeError, FramingError
from adapters.servicebus.amqp.frames import (
    AMQP_HEADER,
    EMPTY_FRAME,
    SASL_HEADER,
    TYPE_SASL,
    Frame,
    FrameBuffer,
    encode_disposition,
    encode_frame,
    encode_transfer,
)
from adapters.servicebus.amqp.outcomes import Accepted, Modified, Rejected
from adapters.servicebus.amqp.performatives import Close, Disposition, SaslOutcome, Transfer

CLOSE_BODY = bytes.fromhex("00531845")


def test_protocol_headers() -> None:
    assert (AMQP_HEADER, SASL_HEADER) == (b"AMQP\x00\x01\x00\x00", b"AMQP\x03\x01\x00\x00")
    assert bytes.fromhex("0000000802000000") == EMPTY_FRAME


def test_encoded_frame_header_fields() -> None:
    frame = encode_frame(7, Close())
    assert frame == bytes.fromhex("0000000c02000007") + CLOSE_BODY
    sasl = encode_frame(0, SaslOutcome(code=0), frame_type=TYPE_SASL)
    assert sasl[4:8] == bytes.fromhex("02010000")
    with_payload = encode_frame(1, Transfer(handle=0), b"payload")
    assert int.from_bytes(with_payload[:4], "big") == len(with_payload)
    assert with_payload.endswith(b"payload")


def test_buffer_waits_for_whole_frames_and_returns_each_one() -> None:
    buffer = FrameBuffer(max_frame_size=1024)
    first = bytes.fromhex("0000000c02000003") + CLOSE_BODY
    second = encode_frame(1, Transfer(handle=2, delivery_id=0), b"xyz")
    stream = first + EMPTY_FRAME + second
    buffer.feed(stream[:5])
    assert buffer.next_frame() is None
    buffer.feed(stream[5:14])
    frame = buffer.next_frame()
    assert frame == Frame(0, 3, CLOSE_BODY)
    assert buffer.next_frame() is None
    buffer.feed(stream[14:])
    empty = buffer.next_frame()
    assert empty == Frame(0, 0, b"")
    assert empty.decode() == (None, b"")
    transfer, payload = buffer.next_frame().decode()
    assert isinstance(transfer, Transfer) and transfer.handle == 2 and payload == b"xyz"
    assert buffer.next_frame() is None
    assert len(buffer) == 0


def test_extended_header_is_skipped() -> None:
    buffer = FrameBuffer(max_frame_size=1024)
    buffer.feed(bytes.fromhex("0000001003000000deadbeef") + CLOSE_BODY)
    assert buffer.next_frame() == Frame(0, 0, CLOSE_BODY)


def test_protocol_header_then_frames_from_one_read() -> None:
    buffer = FrameBuffer(max_frame_size=1024)
    buffer.feed(SASL_HEADER + EMPTY_FRAME[:3])
    assert buffer.take(8) == SASL_HEADER
    assert buffer.take(8) is None
    buffer.feed(EMPTY_FRAME[3:])
    assert buffer.next_frame() == Frame(0, 0, b"")


@pytest.mark.parametrize(
    ("header_hex", "why"),
    [
        ("0000000402000000", "size smaller than the header"),
        ("0000040102000000", "size over max-frame-size"),
        ("0000000c01000000", "data offset under 2"),
        ("0000000c04000000", "data offset past the frame"),
    ],
)
def test_impossible_frame_headers_are_framing_errors(header_hex: str, why: str) -> None:
    buffer = FrameBuffer(max_frame_size=1024)
    buffer.feed(bytes.fromhex(header_hex) + bytes(8))
    with pytest.raises(FramingError):
        buffer.next_frame()


def test_frame_bodies_that_are_not_performatives_are_decode_errors() -> None:
    with pytest.raises(DecodeError):
        Frame(0, 0, bytes.fromhex("a10178")).decode()
    with pytest.raises(DecodeError):
        Frame(0, 0, bytes.fromhex("005310c0")).decode()


@pytest.mark.parametrize(
    ("channel", "handle", "delivery_id", "tag", "message_format", "settled"),
    [
        (0, 0, 0, b"", 0, False),
        (1, 7, 255, uuid.uuid4().bytes_le, 0, True),
        (4095, 0xFFFFFFFF, 0xFFFFFFFF, b"t" * 300, 0x80013700, False),
    ],
)
def test_a_whole_delivery_frame_is_the_transfer_performative_then_the_payload(
    channel: int, handle: int, delivery_id: int, tag: bytes, message_format: int, settled: bool
) -> None:
    transfer = Transfer(
        handle=handle, delivery_id=delivery_id, delivery_tag=tag, message_format=message_format, settled=settled
    )
    payload = b"\x00\x53\x75\xa0\x03abc"
    assert encode_transfer(channel, handle, delivery_id, tag, message_format, settled, payload) == encode_frame(
        channel, transfer, payload
    )


@pytest.mark.parametrize(
    ("role", "first", "last", "settled", "state"),
    [
        (False, 0, None, True, Accepted()),
        (True, 300, 0xFFFFFFFF, False, None),
        (False, 7, 9, True, Rejected(error=AmqpError("amqp:not-found", "gone", {"k": "v"}))),
        (False, 1, None, True, Modified(delivery_failed=True, message_annotations={"x-opt-a": 1})),
    ],
)
def test_a_disposition_frame_is_the_disposition_performative(
    role: bool, first: int, last: int | None, settled: bool, state: Any
) -> None:
    disposition = Disposition(role=role, first=first, last=last, settled=settled, state=state)
    assert encode_disposition(3, role, first, last, settled, state) == encode_frame(3, disposition)
