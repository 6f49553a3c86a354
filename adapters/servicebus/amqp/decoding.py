"""Decoding AMQP 1.0 values (OASIS AMQP 1.0, part 1.6): the broker's hot path.

Every transfer is a described list of eleven fields and every message five or six
sections, so decoding works on ``bytes`` with an offset (no slicing until a value is
produced), dispatches on the constructor byte through a 256-entry table and unpacks with
precompiled ``struct.Struct`` objects. Each decoder takes ``(buffer, position after the
constructor)`` and returns ``(value, position after the value)``; the same decoders serve
arrays, whose elements share one constructor.

Python values: null ``None``, boolean ``bool``, every integer type ``int``, float and
double ``float``, char :class:`Char`, decimals :class:`Decimal` (opaque), timestamp an
aware UTC ``datetime``, uuid ``UUID``, binary ``bytes``, string ``str``, symbol
:class:`Symbol`, list ``list``, map ``dict``, array :class:`Array` (or a list when its
elements are compound). Described values whose descriptor is registered (performatives,
outcomes, terminus, error, sections) decode straight into their classes; others into
:class:`Described`. Anything malformed raises :class:`DecodeError` and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from .errors import DecodeError
from .layouts import EPOCH, F32, F64, I8, I16, I32, I64, U16, U32, U64
from .types import Array, Char, Decimal, Described, Symbol

Decoder = Callable[[bytes, int], tuple[Any, int]]

_U32U32 = struct.Struct(">II")

_MAX_DATETIME = datetime.max.replace(tzinfo=UTC)
_MIN_DATETIME = datetime.min.replace(tzinfo=UTC)

MAX_ZERO_WIDTH_ARRAY = 65536
"""Elements of an array whose elements take no bytes (nulls, ``true``): without a cap a
nine-byte array could ask for four billion of them."""

DESCRIBED_TYPES: dict[Any, Callable[[Any], Any]] = {}
"""Descriptor (ulong code or symbol) -> factory taking the described value."""


def register_described(factory: Callable[[Any], Any], *descriptors: int | str) -> None:
    for descriptor in descriptors:
        DESCRIBED_TYPES[Symbol(descriptor) if isinstance(descriptor, str) else descriptor] = factory


def timestamp_to_datetime(ms: int) -> datetime:
    """Milliseconds since the Unix epoch -> aware UTC datetime, clamped to what datetime holds.

    Peers send "never" as huge values (.NET's DateTime.MaxValue, or Int64.MaxValue);
    clamping keeps such a message decodable instead of failing the whole connection.
    """
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return _MAX_DATETIME if ms > 0 else _MIN_DATETIME


def _end(buf: bytes, end: int) -> int:
    if end > len(buf):
        raise DecodeError(f"value runs past the end of the buffer ({end} > {len(buf)})")
    return end


def _d_null(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _d_true(buf: bytes, pos: int) -> tuple[Any, int]:
    return True, pos


def _d_false(buf: bytes, pos: int) -> tuple[Any, int]:
    return False, pos


def _d_zero(buf: bytes, pos: int) -> tuple[Any, int]:
    return 0, pos


def _d_boolean(buf: bytes, pos: int) -> tuple[Any, int]:
    value = buf[pos]
    if value > 1:
        raise DecodeError(f"boolean byte 0x{value:02x} is neither 0 nor 1")
    return value == 1, pos + 1


def _d_ubyte(buf: bytes, pos: int) -> tuple[Any, int]:
    return buf[pos], pos + 1


def _d_byte(buf: bytes, pos: int) -> tuple[Any, int]:
    return I8.unpack_from(buf, pos)[0], pos + 1


def _d_ushort(buf: bytes, pos: int) -> tuple[Any, int]:
    return U16.unpack_from(buf, pos)[0], pos + 2


def _d_short(buf: bytes, pos: int) -> tuple[Any, int]:
    return I16.unpack_from(buf, pos)[0], pos + 2


def _d_uint(buf: bytes, pos: int) -> tuple[Any, int]:
    return U32.unpack_from(buf, pos)[0], pos + 4


def _d_int(buf: bytes, pos: int) -> tuple[Any, int]:
    return I32.unpack_from(buf, pos)[0], pos + 4


def _d_ulong(buf: bytes, pos: int) -> tuple[Any, int]:
    return U64.unpack_from(buf, pos)[0], pos + 8


def _d_long(buf: bytes, pos: int) -> tuple[Any, int]:
    return I64.unpack_from(buf, pos)[0], pos + 8


def _d_float(buf: bytes, pos: int) -> tuple[Any, int]:
    return F32.unpack_from(buf, pos)[0], pos + 4


def _d_double(buf: bytes, pos: int) -> tuple[Any, int]:
    return F64.unpack_from(buf, pos)[0], pos + 8


def _d_char(buf: bytes, pos: int) -> tuple[Any, int]:
    code = U32.unpack_from(buf, pos)[0]
    if code > 0x10FFFF:
        raise DecodeError(f"char U+{code:X} is not a code point")
    return Char(chr(code)), pos + 4


def _d_timestamp(buf: bytes, pos: int) -> tuple[Any, int]:
    return timestamp_to_datetime(I64.unpack_from(buf, pos)[0]), pos + 8


def _d_uuid(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 16)
    return UUID(bytes=buf[pos:end]), end


def _decimal_decoder(width: int) -> Decoder:
    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        end = _end(buf, pos + width)
        return Decimal(buf[pos:end]), end

    return decode


def _d_vbin8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 1 + buf[pos]
    if end > len(buf):
        raise DecodeError("binary runs past the end of the buffer")
    return buf[pos + 1 : end], end


def _d_vbin32(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 4 + U32.unpack_from(buf, pos)[0])
    return buf[pos + 4 : end], end


def _d_str8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 1 + buf[pos]
    if end > len(buf):
        raise DecodeError("string runs past the end of the buffer")
    return buf[pos + 1 : end].decode(), end


def _d_str32(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 4 + U32.unpack_from(buf, pos)[0])
    return buf[pos + 4 : end].decode(), end


def _d_sym8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 1 + buf[pos])
    return Symbol(buf[pos + 1 : end].decode()), end


def _d_sym32(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 4 + U32.unpack_from(buf, pos)[0])
    return Symbol(buf[pos + 4 : end].decode()), end


def _d_list0(buf: bytes, pos: int) -> tuple[Any, int]:
    return [], pos


def _items(buf: bytes, pos: int, end: int, count: int) -> list[Any]:
    if count > end - pos:
        raise DecodeError(f"{count} elements cannot fit in {end - pos} bytes")
    decoders, constants = _DECODERS, _CONSTANTS
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        constructor = buf[pos]
        if constructor in constants:  # null, true, false, uint0, ulong0: most fields of a performative
            append(constants[constructor])
            pos += 1
        else:
            value, pos = decoders[constructor](buf, pos + 1)
            append(value)
    if pos != end:
        raise DecodeError(f"compound value declared {end} as its end but its elements end at {pos}")
    return items


def _d_list8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 1 + buf[pos]
    if end > len(buf):
        raise DecodeError("list runs past the end of the buffer")
    return _items(buf, pos + 2, end, buf[pos + 1]), end


def _d_list32(buf: bytes, pos: int) -> tuple[Any, int]:
    size, count = _U32U32.unpack_from(buf, pos)
    end = _end(buf, pos + 4 + size)
    return _items(buf, pos + 8, end, count), end


def _pairs(items: list[Any]) -> dict[Any, Any]:
    if len(items) % 2:
        raise DecodeError("map with an odd number of elements")
    try:
        return dict(zip(items[::2], items[1::2], strict=True))
    except TypeError as exc:
        raise DecodeError(f"map key is not hashable: {exc}") from None


def _d_map8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 1 + buf[pos])
    return _pairs(_items(buf, pos + 2, end, buf[pos + 1])), end


def _d_map32(buf: bytes, pos: int) -> tuple[Any, int]:
    size, count = _U32U32.unpack_from(buf, pos)
    end = _end(buf, pos + 4 + size)
    return _pairs(_items(buf, pos + 8, end, count)), end


_ARRAY_ELEMENT_NAMES = {
    0x56: "boolean", 0x50: "ubyte", 0x51: "byte", 0x60: "ushort", 0x61: "short", 0x70: "uint", 0x52: "uint",
    0x43: "uint", 0x80: "ulong", 0x53: "ulong", 0x44: "ulong", 0x71: "int", 0x54: "int", 0x81: "long",
    0x55: "long", 0x72: "float", 0x82: "double", 0x73: "char", 0x83: "timestamp", 0x98: "uuid",
    0xa0: "binary", 0xb0: "binary", 0xa1: "string", 0xb1: "string", 0xa3: "symbol", 0xb3: "symbol",
    0x41: "boolean", 0x42: "boolean",
}  # fmt: skip


def _array_elements(buf: bytes, pos: int, end: int, count: int) -> list[Any]:
    constructor = buf[pos]
    pos += 1
    descriptor: Any = None
    described = False
    if constructor == 0x00:
        descriptor, pos = decode_value(buf, pos)
        described = True
        constructor = buf[pos]
        pos += 1
    decoder = _DECODERS[constructor]
    if decoder is _d_unknown:
        raise DecodeError(f"unknown array element constructor 0x{constructor:02x}")
    if count > (end - pos if _FIXED_WIDTH.get(constructor) != 0 else MAX_ZERO_WIDTH_ARRAY):
        raise DecodeError(f"array of {count} elements cannot fit in {end - pos} bytes")
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        value, pos = decoder(buf, pos)
        append(value)
    if pos != end:
        raise DecodeError(f"array declared {end} as its end but its elements end at {pos}")
    if described:
        factory = DESCRIBED_TYPES.get(descriptor)
        return [factory(v) if factory else Described(descriptor, v) for v in items]
    name = _ARRAY_ELEMENT_NAMES.get(constructor)
    return Array(name, items) if name else items


def _d_array8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 1 + buf[pos])
    return _array_elements(buf, pos + 2, end, buf[pos + 1]), end


def _d_array32(buf: bytes, pos: int) -> tuple[Any, int]:
    size, count = _U32U32.unpack_from(buf, pos)
    end = _end(buf, pos + 4 + size)
    return _array_elements(buf, pos + 8, end, count), end


def _d_described(buf: bytes, pos: int) -> tuple[Any, int]:
    if buf[pos] == 0x53:  # smallulong: how every descriptor of the spec is sent in practice
        descriptor = buf[pos + 1]
        pos += 2
    else:
        descriptor, pos = decode_value(buf, pos)
    value, pos = _DECODERS[buf[pos]](buf, pos + 1)
    factory = DESCRIBED_TYPES.get(descriptor)
    if factory is None:
        return Described(descriptor, value), pos
    try:
        return factory(value), pos
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed described value {descriptor!r}: {exc}") from None


def _d_unknown(buf: bytes, pos: int) -> tuple[Any, int]:
    raise DecodeError(f"unknown constructor 0x{buf[pos - 1]:02x} at offset {pos - 1}")


_DECODERS: list[Decoder] = [_d_unknown] * 256
for _code, _decoder in {
    0x00: _d_described, 0x40: _d_null, 0x41: _d_true, 0x42: _d_false, 0x56: _d_boolean,
    0x50: _d_ubyte, 0x51: _d_byte, 0x60: _d_ushort, 0x61: _d_short,
    0x70: _d_uint, 0x52: _d_ubyte, 0x43: _d_zero, 0x80: _d_ulong, 0x53: _d_ubyte, 0x44: _d_zero,
    0x71: _d_int, 0x54: _d_byte, 0x81: _d_long, 0x55: _d_byte,
    0x72: _d_float, 0x82: _d_double, 0x74: _decimal_decoder(4), 0x84: _decimal_decoder(8),
    0x94: _decimal_decoder(16), 0x73: _d_char, 0x83: _d_timestamp, 0x98: _d_uuid,
    0xa0: _d_vbin8, 0xb0: _d_vbin32, 0xa1: _d_str8, 0xb1: _d_str32, 0xa3: _d_sym8, 0xb3: _d_sym32,
    0x45: _d_list0, 0xc0: _d_list8, 0xd0: _d_list32, 0xc1: _d_map8, 0xd1: _d_map32,
    0xe0: _d_array8, 0xf0: _d_array32,
}.items():  # fmt: skip
    _DECODERS[_code] = _decoder

_CONSTANTS: dict[int, Any] = {0x40: None, 0x41: True, 0x42: False, 0x43: 0, 0x44: 0}

_FIXED_WIDTH = {
    0x40: 0, 0x41: 0, 0x42: 0, 0x43: 0, 0x44: 0, 0x45: 0,
    0x50: 1, 0x51: 1, 0x52: 1, 0x53: 1, 0x54: 1, 0x55: 1, 0x56: 1, 0x60: 2, 0x61: 2,
    0x70: 4, 0x71: 4, 0x72: 4, 0x73: 4, 0x74: 4,
    0x80: 8, 0x81: 8, 0x82: 8, 0x83: 8, 0x84: 8, 0x94: 16, 0x98: 16,
}  # fmt: skip
_SIZE8 = frozenset({0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0})
_SIZE32 = frozenset({0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0})


def decode_value(buf: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode the value at ``pos``; returns it and the position just after it.

    Raises :class:`DecodeError` for anything malformed (and only that).
    """
    try:
        return _DECODERS[buf[pos]](buf, pos + 1)
    except DecodeError:
        raise
    except (IndexError, struct.error) as exc:
        raise DecodeError(f"truncated value at offset {pos}: {exc}") from None
    except (UnicodeDecodeError, ValueError, OverflowError, RecursionError) as exc:
        raise DecodeError(f"malformed value at offset {pos}: {exc}") from None


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode exactly one value from ``data`` (trailing bytes are an error)."""
    buf = data if type(data) is bytes else bytes(data)
    value, pos = decode_value(buf)
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} bytes after the value")
    return value


def skip_value(buf: bytes, pos: int) -> int:
    """The position just after the value at ``pos``, without decoding it.

    Compound and variable-width values carry their size, so this is O(1) for all but
    described values: it is how a message's sections are found without decoding them.
    """
    try:
        constructor = buf[pos]
        pos += 1
        width = _FIXED_WIDTH.get(constructor)
        if width is not None:
            return _end(buf, pos + width)
        if constructor in _SIZE8:
            return _end(buf, pos + 1 + buf[pos])
        if constructor in _SIZE32:
            return _end(buf, pos + 4 + U32.unpack_from(buf, pos)[0])
        if constructor == 0x00:
            return skip_value(buf, skip_value(buf, pos))
    except (IndexError, struct.error, RecursionError) as exc:
        raise DecodeError(f"truncated value at offset {pos - 1}: {exc}") from None
    raise DecodeError(f"unknown constructor 0x{constructor:02x} at offset {pos - 1}")
