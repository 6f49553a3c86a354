"""Framing (part 2.3): protocol headers, frame headers, and cutting a byte stream into frames.

A connection starts with an 8-byte protocol header (``AMQP`` + protocol id + version):
id 3 is SASL, id 0 is AMQP proper. After that everything is frames: a 4-byte size, a
data offset in 4-byte words (2 = no extended header), a type (0 AMQP, 1 SASL) and a
channel, then the body. A frame whose size is 8 has no body: a heartbeat.

:class:`FrameBuffer` takes whatever the socket delivered and hands back every complete
frame in it, so one read of many small frames is processed as a batch.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from .decoding import decode_value
from .encoding import encode_binary, encode_uint, encode_value, write_compound
from .errors import DecodeError, FramingError

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"

TYPE_AMQP = 0
TYPE_SASL = 1

HEADER_SIZE = 8
MIN_MAX_FRAME_SIZE = 512
EMPTY_FRAME = b"\x00\x00\x00\x08\x02\x00\x00\x00"

_FRAME_HEADER = struct.Struct(">IBBH")


class Frame(NamedTuple):
    type: int
    channel: int
    body: bytes
    """The frame body after any extended header: a performative, then (transfer only) payload."""

    def decode(self) -> tuple[Any, bytes]:
        """The performative and the payload after it. An empty frame yields ``(None, b"")``."""
        if not self.body:
            return None, b""
        performative, end = decode_value(self.body)
        if not hasattr(performative, "DESCRIPTOR"):
            raise DecodeError(f"frame body is not a performative: {performative!r}")
        return performative, self.body[end:]


def encode_frame(channel: int, performative: Any, payload: bytes = b"", frame_type: int = TYPE_AMQP) -> bytes:
    out = bytearray(HEADER_SIZE)
    encode_value(out, performative)
    out += payload
    _FRAME_HEADER.pack_into(out, 0, len(out), 2, frame_type, channel)
    return bytes(out)


_TRANSFER = b"\x00\x53\x14"
_TRANSFER_TAIL = b"\x42\x40\x40\x42\x42\x42"
"""more, rcv-settle-mode, state, resume, aborted, batchable: false or absent."""


def encode_transfer(
    channel: int, handle: int, delivery_id: int, tag: bytes, message_format: int, settled: bool, payload: bytes
) -> bytes:
    """The frame of a delivery sent whole: the bytes ``encode_frame`` gives for the transfer
    performative with these fields, written without building it (one per message delivered)."""
    fields = bytearray()
    encode_uint(fields, handle)
    encode_uint(fields, delivery_id)
    encode_binary(fields, tag)
    encode_uint(fields, message_format)
    fields.append(0x41 if settled else 0x42)
    fields += _TRANSFER_TAIL
    out = bytearray(HEADER_SIZE)
    out += _TRANSFER
    write_compound(out, fields, 11, 0xC0, 0xD0)
    out += payload
    _FRAME_HEADER.pack_into(out, 0, len(out), 2, TYPE_AMQP, channel)
    return bytes(out)


_DISPOSITION = b"\x00\x53\x15"


def encode_disposition(channel: int, role: bool, first: int, last: int | None, settled: bool, state: Any) -> bytes:
    """A disposition frame: the bytes ``encode_frame`` gives for the disposition performative
    with these fields, written without building it (one per settlement)."""
    fields = bytearray(b"\x41" if role else b"\x42")
    encode_uint(fields, first)
    if last is None:
        fields.append(0x40)
    else:
        encode_uint(fields, last)
    fields.append(0x41 if settled else 0x42)
    encode_value(fields, state)
    fields.append(0x42)  # batchable
    out = bytearray(HEADER_SIZE)
    out += _DISPOSITION
    write_compound(out, fields, 6, 0xC0, 0xD0)
    _FRAME_HEADER.pack_into(out, 0, len(out), 2, TYPE_AMQP, channel)
    return bytes(out)


class FrameBuffer:
    """Bytes received, not yet consumed as frames or protocol headers."""

    __slots__ = ("_buf", "_pos", "max_frame_size")

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def take(self, size: int) -> bytes | None:
        """The next ``size`` raw bytes (a protocol header), or ``None`` until that many arrived."""
        if len(self) < size:
            return None
        start = self._pos
        self._pos += size
        return bytes(self._buf[start : self._pos])

    def next_frame(self) -> Frame | None:
        """The next complete frame, or ``None`` until one has arrived.

        Raises :class:`FramingError` for a header that cannot be right: a size under 8 or
        over ``max_frame_size``, or a data offset pointing outside the frame.
        """
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_SIZE:
            return None
        size, doff, frame_type, channel = _FRAME_HEADER.unpack_from(buf, pos)
        if size < HEADER_SIZE:
            raise FramingError(f"frame size {size} is smaller than a frame header")
        if size > self.max_frame_size:
            raise FramingError(f"frame of {size} bytes exceeds the max-frame-size of {self.max_frame_size}")
        if doff < 2 or doff * 4 > size:
            raise FramingError(f"data offset {doff} is outside a frame of {size} bytes")
        if len(buf) - pos < size:
            return None
        self._pos = pos + size
        return Frame(frame_type, channel, bytes(buf[pos + doff * 4 : pos + size]))
