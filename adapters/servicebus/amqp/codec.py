"""The AMQP 1.0 type system (OASIS AMQP 1.0, part 1): encoding and decoding of values.

Decoding is the broker's hot path (every transfer is a described list of eleven fields,
and every message five or six sections), so it works on ``bytes`` with an offset (no
slicing until a value is produced), dispatches on the constructor byte through a
256-entry table and unpacks with precompiled ``struct.Struct`` objects. Each decoder
takes ``(buffer, position after the constructor)`` and returns ``(value, position after
the value)``; the same decoders serve arrays, whose elements share one constructor.

Described values whose descriptor is registered (performatives, outcomes, terminus,
error) decode straight into their classes; others into :class:`Described`.

Encoding picks the narrowest legal form (``uint0``, ``smalluint``, ``list8`` ...) and
writes into one ``bytearray``. Python values map as: ``None`` null, ``bool`` boolean,
``int`` int (or long, or ulong when it does not fit), ``float`` double, ``str``
string, ``bytes`` binary, ``datetime`` timestamp, ``UUID`` uuid, ``list``/``tuple``
list, ``dict`` map; the wrappers of :mod:`.types` choose any other type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import UUID

from .errors import DecodeError
from .types import (
    Array,
    Byte,
    Char,
    Decimal,
    Described,
    Float,
    Int,
    Long,
    Short,
    Symbol,
    UByte,
    UInt,
    ULong,
    UShort,
)

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[bytearray, Any], None]

_I8 = struct.Struct(">b")
_U16 = struct.Struct(">H")
_I16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_U32U32 = struct.Struct(">II")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
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


# ---- timestamps -------------------------------------------------------------------


def timestamp_to_datetime(ms: int) -> datetime:
    """Milliseconds since the Unix epoch -> aware UTC datetime, clamped to what datetime holds.

    Peers send "never" as huge values (.NET's DateTime.MaxValue, or Int64.MaxValue);
    clamping keeps such a message decodable instead of failing the whole connection.
    """
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return _MAX_DATETIME if ms > 0 else _MIN_DATETIME


def datetime_to_timestamp(value: datetime) -> int:
    """Aware (or naive, taken as UTC) datetime -> whole milliseconds since the Unix epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_MS


# ---- decoding ------------------------------------------------------------------------


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
    return _I8.unpack_from(buf, pos)[0], pos + 1


def _d_ushort(buf: bytes, pos: int) -> tuple[Any, int]:
    return _U16.unpack_from(buf, pos)[0], pos + 2


def _d_short(buf: bytes, pos: int) -> tuple[Any, int]:
    return _I16.unpack_from(buf, pos)[0], pos + 2


def _d_uint(buf: bytes, pos: int) -> tuple[Any, int]:
    return _U32.unpack_from(buf, pos)[0], pos + 4


def _d_int(buf: bytes, pos: int) -> tuple[Any, int]:
    return _I32.unpack_from(buf, pos)[0], pos + 4


def _d_ulong(buf: bytes, pos: int) -> tuple[Any, int]:
    return _U64.unpack_from(buf, pos)[0], pos + 8


def _d_long(buf: bytes, pos: int) -> tuple[Any, int]:
    return _I64.unpack_from(buf, pos)[0], pos + 8


def _d_float(buf: bytes, pos: int) -> tuple[Any, int]:
    return _F32.unpack_from(buf, pos)[0], pos + 4


def _d_double(buf: bytes, pos: int) -> tuple[Any, int]:
    return _F64.unpack_from(buf, pos)[0], pos + 8


def _d_char(buf: bytes, pos: int) -> tuple[Any, int]:
    code = _U32.unpack_from(buf, pos)[0]
    if code > 0x10FFFF:
        raise DecodeError(f"char U+{code:X} is not a code point")
    return Char(chr(code)), pos + 4


def _d_timestamp(buf: bytes, pos: int) -> tuple[Any, int]:
    return timestamp_to_datetime(_I64.unpack_from(buf, pos)[0]), pos + 8


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
    end = _end(buf, pos + 4 + _U32.unpack_from(buf, pos)[0])
    return buf[pos + 4 : end], end


def _d_str8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 1 + buf[pos]
    if end > len(buf):
        raise DecodeError("string runs past the end of the buffer")
    return buf[pos + 1 : end].decode(), end


def _d_str32(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 4 + _U32.unpack_from(buf, pos)[0])
    return buf[pos + 4 : end].decode(), end


def _d_sym8(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 1 + buf[pos])
    return Symbol(buf[pos + 1 : end].decode()), end


def _d_sym32(buf: bytes, pos: int) -> tuple[Any, int]:
    end = _end(buf, pos + 4 + _U32.unpack_from(buf, pos)[0])
    return Symbol(buf[pos + 4 : end].decode()), end


def _d_list0(buf: bytes, pos: int) -> tuple[Any, int]:
    return [], pos


def _items(buf: bytes, pos: int, end: int, count: int) -> list[Any]:
    if count > end - pos:
        raise DecodeError(f"{count} elements cannot fit in {end - pos} bytes")
    decoders = _DECODERS
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        decoder = decoders[buf[pos]]
        if decoder is None:
            raise DecodeError(f"unknown constructor 0x{buf[pos]:02x}")
        value, pos = decoder(buf, pos + 1)
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
    if decoder is None:
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
    decoder = _DECODERS[buf[pos]]
    if decoder is None:
        raise DecodeError(f"unknown constructor 0x{buf[pos]:02x} at offset {pos}")
    value, pos = decoder(buf, pos + 1)
    factory = DESCRIBED_TYPES.get(descriptor)
    if factory is None:
        return Described(descriptor, value), pos
    try:
        return factory(value), pos
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"malformed described value {descriptor!r}: {exc}") from None


_DECODERS: list[Decoder | None] = [None] * 256
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
        decoder = _DECODERS[buf[pos]]
        if decoder is None:
            raise DecodeError(f"unknown constructor 0x{buf[pos]:02x} at offset {pos}")
        return decoder(buf, pos + 1)
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
            return _end(buf, pos + 4 + _U32.unpack_from(buf, pos)[0])
        if constructor == 0x00:
            return skip_value(buf, skip_value(buf, pos))
    except (IndexError, struct.error, RecursionError) as exc:
        raise DecodeError(f"truncated value at offset {pos - 1}: {exc}") from None
    raise DecodeError(f"unknown constructor 0x{constructor:02x} at offset {pos - 1}")


# ---- encoding ------------------------------------------------------------------------

_C_U8 = struct.Struct(">BB")
_C_I8 = struct.Struct(">Bb")
_C_U16 = struct.Struct(">BH")
_C_I16 = struct.Struct(">Bh")
_C_U32 = struct.Struct(">BI")
_C_I32 = struct.Struct(">Bi")
_C_U64 = struct.Struct(">BQ")
_C_I64 = struct.Struct(">Bq")
_C_F32 = struct.Struct(">Bf")
_C_F64 = struct.Struct(">Bd")
_C_SIZE8 = struct.Struct(">BBB")
_C_SIZE32 = struct.Struct(">BII")


def encode_null(out: bytearray, value: Any = None) -> None:
    out.append(0x40)


def encode_boolean(out: bytearray, value: bool) -> None:
    out.append(0x41 if value else 0x42)


def encode_ubyte(out: bytearray, value: int) -> None:
    out += _C_U8.pack(0x50, value)


def encode_byte(out: bytearray, value: int) -> None:
    out += _C_I8.pack(0x51, value)


def encode_ushort(out: bytearray, value: int) -> None:
    out += _C_U16.pack(0x60, value)


def encode_short(out: bytearray, value: int) -> None:
    out += _C_I16.pack(0x61, value)


def encode_uint(out: bytearray, value: int) -> None:
    if value == 0:
        out.append(0x43)
    elif 0 < value < 256:
        out += _C_U8.pack(0x52, value)
    else:
        out += _C_U32.pack(0x70, value)


def encode_ulong(out: bytearray, value: int) -> None:
    if value == 0:
        out.append(0x44)
    elif 0 < value < 256:
        out += _C_U8.pack(0x53, value)
    else:
        out += _C_U64.pack(0x80, value)


def encode_int(out: bytearray, value: int) -> None:
    if -128 <= value <= 127:
        out += _C_I8.pack(0x54, value)
    else:
        out += _C_I32.pack(0x71, value)


def encode_long(out: bytearray, value: int) -> None:
    if -128 <= value <= 127:
        out += _C_I8.pack(0x55, value)
    else:
        out += _C_I64.pack(0x81, value)


def _encode_python_int(out: bytearray, value: int) -> None:
    if -0x80000000 <= value <= 0x7FFFFFFF:
        encode_int(out, value)
    elif -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        out += _C_I64.pack(0x81, value)
    elif 0 < value <= 0xFFFFFFFFFFFFFFFF:
        out += _C_U64.pack(0x80, value)
    else:
        raise ValueError(f"{value} does not fit any AMQP integer type")


def encode_float(out: bytearray, value: float) -> None:
    out += _C_F32.pack(0x72, value)


def encode_double(out: bytearray, value: float) -> None:
    out += _C_F64.pack(0x82, value)


def encode_char(out: bytearray, value: str) -> None:
    out += _C_U32.pack(0x73, ord(value))


def encode_timestamp(out: bytearray, value: datetime | int) -> None:
    """A timestamp from a datetime, or from milliseconds since the epoch."""
    ms = value if isinstance(value, int) else datetime_to_timestamp(value)
    out += _C_I64.pack(0x83, ms)


def encode_uuid(out: bytearray, value: UUID) -> None:
    out.append(0x98)
    out += value.bytes


def _decimal(out: bytearray, value: Decimal) -> None:
    out.append({4: 0x74, 8: 0x84, 16: 0x94}[len(value)])
    out += value


def _variable(out: bytearray, data: bytes | bytearray | memoryview, small: int, large: int) -> None:
    size = len(data)
    if size < 256:
        out += _C_U8.pack(small, size)
    else:
        out += _C_U32.pack(large, size)
    out += data


def encode_binary(out: bytearray, value: bytes | bytearray | memoryview) -> None:
    _variable(out, value, 0xA0, 0xB0)


def encode_string(out: bytearray, value: str) -> None:
    _variable(out, value.encode(), 0xA1, 0xB1)


def encode_symbol(out: bytearray, value: str) -> None:
    _variable(out, value.encode(), 0xA3, 0xB3)


def write_compound(out: bytearray, body: bytearray, count: int, small: int, large: int) -> None:
    """Append a list or map (constructor ``small``/``large``) of ``count`` already-encoded elements."""
    if len(body) < 255 and count < 256:
        out += _C_SIZE8.pack(small, len(body) + 1, count)
    else:
        out += _C_SIZE32.pack(large, len(body) + 4, count)
    out += body


def encode_list(out: bytearray, value: list[Any] | tuple[Any, ...]) -> None:
    if not value:
        out.append(0x45)
        return
    body = bytearray()
    for item in value:
        encode_value(body, item)
    write_compound(out, body, len(value), 0xC0, 0xD0)


def encode_map(out: bytearray, value: Mapping[Any, Any]) -> None:
    body = bytearray()
    for key, item in value.items():
        encode_value(body, key)
        encode_value(body, item)
    write_compound(out, body, 2 * len(value), 0xC1, 0xD1)


def encode_fields(out: bytearray, value: Mapping[Any, Any] | None) -> None:
    """A ``fields`` map (symbol keys): plain ``str`` keys are sent as symbols, as the spec requires."""
    if value is None:
        out.append(0x40)
        return
    body = bytearray()
    for key, item in value.items():
        encode_symbol(body, key)
        encode_value(body, item)
    write_compound(out, body, 2 * len(value), 0xC1, 0xD1)


def encode_descriptor(out: bytearray, descriptor: int | str) -> None:
    out.append(0x00)
    if isinstance(descriptor, int):
        encode_ulong(out, descriptor)
    else:
        encode_symbol(out, descriptor)


def encode_described(out: bytearray, value: Described) -> None:
    encode_descriptor(out, value.descriptor)
    encode_value(out, value.value)


def _pack_each(fmt: struct.Struct) -> Callable[[bytearray, list[Any]], None]:
    def pack(out: bytearray, items: list[Any]) -> None:
        for item in items:
            out += fmt.pack(item)

    return pack


def _pack_variable(items: list[bytes], small: int, large: int) -> tuple[int, bytearray]:
    wide = any(len(item) > 255 for item in items)
    body = bytearray()
    for item in items:
        body += _U32.pack(len(item)) if wide else bytes((len(item),))
        body += item
    return (large if wide else small), body


_B = struct.Struct(">B")
_ARRAY_FIXED: dict[str, tuple[int, Callable[[bytearray, list[Any]], None]]] = {
    "boolean": (0x56, lambda out, items: out.extend(1 if item else 0 for item in items)),
    "ubyte": (0x50, _pack_each(_B)),
    "byte": (0x51, _pack_each(_I8)),
    "ushort": (0x60, _pack_each(_U16)),
    "short": (0x61, _pack_each(_I16)),
    "uint": (0x70, _pack_each(_U32)),
    "int": (0x71, _pack_each(_I32)),
    "ulong": (0x80, _pack_each(_U64)),
    "long": (0x81, _pack_each(_I64)),
    "float": (0x72, _pack_each(_F32)),
    "double": (0x82, _pack_each(_F64)),
    "char": (0x73, lambda out, items: out.extend(b"".join(_U32.pack(ord(c)) for c in items))),
    "timestamp": (
        0x83,
        lambda out, items: out.extend(
            b"".join(_I64.pack(v if isinstance(v, int) else datetime_to_timestamp(v)) for v in items)
        ),
    ),
    "uuid": (0x98, lambda out, items: out.extend(b"".join(v.bytes for v in items))),
}
_ARRAY_VARIABLE = {"binary": (0xA0, 0xB0), "string": (0xA1, 0xB1), "symbol": (0xA3, 0xB3)}


def encode_array(out: bytearray, value: Array) -> None:
    kind = value.element_type
    if kind in _ARRAY_VARIABLE:
        items = [v.encode() if isinstance(v, str) else bytes(v) for v in value]
        constructor, body = _pack_variable(items, *_ARRAY_VARIABLE[kind])
    else:
        constructor, pack = _ARRAY_FIXED[kind]
        body = bytearray()
        pack(body, list(value))
    count = len(value)
    if len(body) + 1 < 255 and count < 256:
        out += _C_SIZE8.pack(0xE0, len(body) + 2, count)
    else:
        out += _C_SIZE32.pack(0xF0, len(body) + 5, count)
    out.append(constructor)
    out += body


def _encode_composite(out: bytearray, value: Any) -> None:
    value.encode_into(out)


ENCODERS: dict[type, Encoder] = {
    type(None): encode_null,
    bool: encode_boolean,
    int: _encode_python_int,
    float: encode_double,
    str: encode_string,
    bytes: encode_binary,
    bytearray: encode_binary,
    memoryview: encode_binary,
    UUID: encode_uuid,
    datetime: encode_timestamp,
    list: encode_list,
    tuple: encode_list,
    dict: encode_map,
    MappingProxyType: encode_map,
    Symbol: encode_symbol,
    UByte: encode_ubyte,
    UShort: encode_ushort,
    UInt: encode_uint,
    ULong: encode_ulong,
    Byte: encode_byte,
    Short: encode_short,
    Int: encode_int,
    Long: encode_long,
    Float: encode_float,
    Char: encode_char,
    Decimal: _decimal,
    Array: encode_array,
    Described: encode_described,
}
"""Python type -> encoder. Composite classes (performatives, outcomes ...) add themselves."""


def register_encodable(cls: type) -> None:
    """Make instances of ``cls`` (which has ``encode_into(out)``) encodable anywhere a value goes."""
    ENCODERS[cls] = _encode_composite


def _fallback_encoder(value: Any) -> Encoder:
    for base in type(value).__mro__[1:]:
        encoder = ENCODERS.get(base)
        if encoder is not None:
            return encoder
    if isinstance(value, Mapping):
        return encode_map
    raise TypeError(f"cannot encode {type(value).__name__} as an AMQP value")


def encode_value(out: bytearray, value: Any) -> None:
    """Append the encoding of ``value`` to ``out`` (see the module docstring for the mapping)."""
    encoder = ENCODERS.get(type(value))
    if encoder is None:
        encoder = _fallback_encoder(value)
    encoder(out, value)


def encode(value: Any) -> bytes:
    """The encoding of one value; out-of-range numbers raise ``ValueError``."""
    out = bytearray()
    try:
        encode_value(out, value)
    except struct.error as exc:
        raise ValueError(f"cannot encode {value!r}: {exc}") from None
    return bytes(out)
