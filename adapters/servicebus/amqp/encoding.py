"""Encoding AMQP 1.0 values (OASIS AMQP 1.0, part 1.6).

The narrowest legal form is chosen (``uint0``, ``smalluint``, ``list8`` ...) and
everything is written into one ``bytearray``. Python values map as: ``None`` null,
``bool`` boolean, ``int`` int (or long, or ulong when it does not fit), ``float`` double,
``str`` string, ``bytes`` binary, ``datetime`` timestamp, ``UUID`` uuid, ``list``/``tuple``
list, ``dict`` map; the wrappers of :mod:`.types` choose any other type, and composite
classes (performatives, outcomes ...) register themselves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import UUID

from .layouts import EPOCH, F32, F64, I8, I16, I32, I64, U16, U32, U64
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

Encoder = Callable[[bytearray, Any], None]


_ONE_MS = timedelta(milliseconds=1)


def datetime_to_timestamp(value: datetime) -> int:
    """Aware (or naive, taken as UTC) datetime -> whole milliseconds since the Unix epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _ONE_MS


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
        body += U32.pack(len(item)) if wide else bytes((len(item),))
        body += item
    return (large if wide else small), body


_B = struct.Struct(">B")
_ARRAY_FIXED: dict[str, tuple[int, Callable[[bytearray, list[Any]], None]]] = {
    "boolean": (0x56, lambda out, items: out.extend(1 if item else 0 for item in items)),
    "ubyte": (0x50, _pack_each(_B)),
    "byte": (0x51, _pack_each(I8)),
    "ushort": (0x60, _pack_each(U16)),
    "short": (0x61, _pack_each(I16)),
    "uint": (0x70, _pack_each(U32)),
    "int": (0x71, _pack_each(I32)),
    "ulong": (0x80, _pack_each(U64)),
    "long": (0x81, _pack_each(I64)),
    "float": (0x72, _pack_each(F32)),
    "double": (0x82, _pack_each(F64)),
    "char": (0x73, lambda out, items: out.extend(b"".join(U32.pack(ord(c)) for c in items))),
    "timestamp": (
        0x83,
        lambda out, items: out.extend(
            b"".join(I64.pack(v if isinstance(v, int) else datetime_to_timestamp(v)) for v in items)
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
