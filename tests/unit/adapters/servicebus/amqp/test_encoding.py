"""Encoding: the narrowest form is chosen (checked against bytes written by hand), long forms
past 255 bytes, and every type round-trips through decoding."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from uuid import UUID

import pytest

from adapters.servicebus.amqp.decoding import decode
from adapters.servicebus.amqp.encoding import encode
from adapters.servicebus.amqp.errors import AmqpError
from adapters.servicebus.amqp.outcomes import Accepted, Rejected
from adapters.servicebus.amqp.types import (
    Array,
    Byte,
    Char,
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
    symbols,
)

SPEC_TIMESTAMP = datetime(2011, 7, 26, 18, 21, 3, 521000, tzinfo=UTC)
SOME_UUID = UUID("12345678-9abc-def0-1234-56789abcdef0")


@pytest.mark.parametrize(
    ("value", "expected_hex"),
    [
        (None, "40"),
        (True, "41"),
        (False, "42"),
        (0, "5400"),
        (-128, "5480"),
        (200, "71000000c8"),
        (2**40, "810000010000000000"),
        (2**63, "808000000000000000"),
        (UByte(7), "5007"),
        (UShort(7), "600007"),
        (UInt(0), "43"),
        (UInt(255), "52ff"),
        (UInt(256), "7000000100"),
        (ULong(0), "44"),
        (ULong(9), "5309"),
        (ULong(2**40), "800000010000000000"),
        (Byte(-1), "51ff"),
        (Short(-2), "61fffe"),
        (Int(5), "5405"),
        (Long(5), "5505"),
        (Long(-300), "81fffffffffffffed4"),
        (Float(1.5), "723fc00000"),
        (1.5, "823ff8000000000000"),
        (Char("A"), "7300000041"),
        (SPEC_TIMESTAMP, "830000013167adb8a1"),
        (SOME_UUID, "98123456789abcdef0123456789abcdef0"),
        (b"abc", "a003616263"),
        ("hello", "a10568656c6c6f"),
        (Symbol("foo"), "a303666f6f"),
        ([], "45"),
        ([True, UInt(7)], "c00402415207"),
        ({}, "c10100"),
        ({Symbol("k"): 5}, "c10602a3016b5405"),
        (symbols(["a", "bc"]), "e00702a30161026263"),
        (Array("uint", [1, 2]), "e00a02700000000100000002"),
        (Array("boolean", [True, False]), "e00402560100"),
        (Described(0x99, "x"), "005399a10178"),
        (Described(Symbol("foo"), None), "00a303666f6f40"),
        (Accepted(), "00532445"),
        (AmqpError("amqp:not-found", "gone"), "00531dc01803a30e616d71703a6e6f742d666f756e64a104676f6e6540"),
        (AmqpError("amqp:not-found"), "00531dc01303a30e616d71703a6e6f742d666f756e644040"),
    ],
)
def test_encodes_the_narrowest_form(value: object, expected_hex: str) -> None:
    assert encode(value).hex() == expected_hex


def test_long_forms_past_255_bytes() -> None:
    text = "x" * 300
    assert encode(text)[:5] == b"\xb1" + struct.pack(">I", 300)
    assert encode(Symbol(text))[:1] == b"\xb3"
    assert encode(text.encode())[:1] == b"\xb0"
    big_list = list(range(300))
    assert encode(big_list)[:1] == b"\xd0"
    assert decode(encode(big_list)) == big_list
    big_map = {str(i): i for i in range(200)}
    assert encode(big_map)[:1] == b"\xd1"
    assert decode(encode(big_map)) == big_map
    long_symbols = symbols(["y" * 300, "z"])
    encoded = encode(long_symbols)
    assert encoded[:1] == b"\xf0" and encoded[9] == 0xB3
    assert decode(encoded) == ["y" * 300, "z"]


ROUND_TRIPS = [
    None,
    True,
    False,
    0,
    -1,
    2**31 - 1,
    -(2**31),
    2**31,
    -(2**63),
    2**64 - 1,
    UByte(255),
    UShort(65535),
    UInt(2**32 - 1),
    ULong(2**64 - 1),
    Byte(-128),
    Short(-32768),
    Int(-(2**31)),
    Long(2**63 - 1),
    0.1,
    -math.inf,
    Float(0.5),
    Char("\u00e9"),
    datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(1960, 1, 1, tzinfo=UTC),
    SOME_UUID,
    b"",
    bytes(range(256)) * 2,
    "",
    "\u65e5\u672c\u8a9e",
    Symbol("com.microsoft:session-filter"),
    [1, "two", [3.0, None], {Symbol("k"): b"v"}],
    {"string key": 1, 7: "int key", SOME_UUID: [True]},
    symbols(["ANONYMOUS", "PLAIN"]),
    Array("string", ["a", "b" * 300]),
    Array("binary", [b"a"]),
    Array("uuid", [SOME_UUID, SOME_UUID]),
    Array("long", [-1, 2**40]),
    Array("ulong", [2**64 - 1]),
    Array("ubyte", [1, 255]),
    Array("byte", [-1]),
    Array("short", [-2]),
    Array("ushort", [65535]),
    Array("int", []),
    Array("double", [1.25]),
    Array("float", [0.5]),
    Array("char", ["a", "\U0001f600"]),
    Array("timestamp", [SPEC_TIMESTAMP]),
    Described(0x1234567890, [1, 2]),
    Described(Symbol("apache.org:selector-filter:string"), "color = 'red'"),
    Rejected(error=AmqpError("com.microsoft:message-lock-lost", "lock lost", {Symbol("k"): "v"})),
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_round_trip(value: object) -> None:
    decoded = decode(encode(value))

    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value
    if isinstance(value, Symbol | Array | Char):
        assert type(decoded) is type(value)


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert decode(encode(datetime(2020, 1, 2, 3, 4, 5))) == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_out_of_range_values_are_value_errors() -> None:
    with pytest.raises(ValueError):
        encode(UByte(256))
    with pytest.raises(ValueError):
        encode(2**64)
    with pytest.raises(TypeError):
        encode(object())
