"""Decoding: bytes written by hand from the spec decode into the right Python values, and
malformed input is a DecodeError, never another exception or a crash."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from adapters.servicebus.amqp.decoding import decode, decode_value, skip_value
from adapters.servicebus.amqp.encoding import encode
from adapters.servicebus.amqp.errors import DecodeError
from adapters.servicebus.amqp.outcomes import Accepted
from adapters.servicebus.amqp.types import (
    Array,
    Char,
    Decimal,
    Described,
    Symbol,
)

SPEC_TIMESTAMP = datetime(2011, 7, 26, 18, 21, 3, 521000, tzinfo=UTC)
SOME_UUID = UUID("12345678-9abc-def0-1234-56789abcdef0")

HAND_ENCODED = [
    # null and booleans, including both short forms
    ("40", None),
    ("41", True),
    ("42", False),
    ("5601", True),
    ("5600", False),
    # unsigned integers in every width, with smalluint/uint0 and smallulong/ulong0
    ("50ff", 255),
    ("600100", 256),
    ("7000010000", 65536),
    ("5207", 7),
    ("43", 0),
    ("800000000100000000", 2**32),
    ("53ff", 255),
    ("44", 0),
    ("80ffffffffffffffff", 2**64 - 1),
    # signed integers, with smallint/smalllong
    ("51ff", -1),
    ("61fffe", -2),
    ("71fffffffd", -3),
    ("54fc", -4),
    ("81fffffffffffffffb", -5),
    ("55fa", -6),
    ("717fffffff", 2**31 - 1),
    # floating point
    ("723fc00000", 1.5),
    ("82400921fb54442d18", math.pi),
    # char (UTF-32BE), timestamp (the spec's example instant), uuid
    ("730001f600", "\U0001f600"),
    ("830000013167adb8a1", SPEC_TIMESTAMP),
    ("98123456789abcdef0123456789abcdef0", SOME_UUID),
    # binary, string and symbol, short and long forms
    ("a003616263", b"abc"),
    ("b000000003616263", b"abc"),
    ("a10568656c6c6f", "hello"),
    ("a102c3a9", "\u00e9"),
    ("b10000000568656c6c6f", "hello"),
    ("a303666f6f", Symbol("foo")),
    ("b300000003666f6f", Symbol("foo")),
    # lists: list0, list8 (size counts the count byte), list32
    ("45", []),
    ("c00402415007", [True, 7]),
    ("d00000000700000002415007", [True, 7]),
    # maps: count is the number of keys plus values
    ("c10602a3016b5205", {Symbol("k"): 5}),
    ("d10000000900000002a3016b5205", {Symbol("k"): 5}),
    ("c10100", {}),
    # arrays: one constructor shared by all elements
    ("e00702a30161026263", [Symbol("a"), Symbol("bc")]),
    ("f00000000d000000027100000001fffffffe", [1, -2]),
    ("e00402560100", [True, False]),
    # described: a registered descriptor becomes its class, by code or by symbolic name
    ("00532445", Accepted()),
    ("00a312616d71703a61636365707465643a6c69737445", Accepted()),
    ("005399a10178", Described(0x99, "x")),
    ("00a303666f6fa10178", Described(Symbol("foo"), "x")),
]


@pytest.mark.parametrize(("hex_bytes", "expected"), HAND_ENCODED)
def test_decodes_bytes_built_from_the_spec(hex_bytes: str, expected: object) -> None:
    value = decode(bytes.fromhex(hex_bytes))

    assert value == expected
    assert type(value) is type(expected) or isinstance(value, type(expected))


def test_decoded_types_follow_the_python_mapping() -> None:
    assert type(decode(bytes.fromhex("a303666f6f"))) is Symbol
    assert type(decode(bytes.fromhex("a10568656c6c6f"))) is str
    assert type(decode(bytes.fromhex("a003616263"))) is bytes
    assert type(decode(bytes.fromhex("5207"))) is int
    assert type(decode(bytes.fromhex("730001f600"))) is Char
    stamp = decode(bytes.fromhex("830000013167adb8a1"))
    assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
    array = decode(bytes.fromhex("e00702a30161026263"))
    assert isinstance(array, Array) and array.element_type == "symbol"


def test_decimals_are_carried_opaque() -> None:
    raw = bytes.fromhex("2200000a")
    value = decode(b"\x74" + raw)
    assert isinstance(value, Decimal) and bytes(value) == raw
    assert encode(value) == b"\x74" + raw
    wide = bytes(range(16))
    assert encode(decode(b"\x94" + wide)) == b"\x94" + wide
    assert encode(decode(b"\x84" + wide[:8])) == b"\x84" + wide[:8]


def test_array_of_described_elements() -> None:
    # array8, 2 elements, element constructor = described(0x99) over str8
    data = bytes.fromhex("e00902005399a101780179")
    assert decode(data) == [Described(0x99, "x"), Described(0x99, "y")]


def test_timestamps_past_what_datetime_holds_are_clamped_not_errors() -> None:
    assert decode(b"\x83" + struct.pack(">q", 2**63 - 1)) == datetime.max.replace(tzinfo=UTC)
    assert decode(b"\x83" + struct.pack(">q", -(2**63))) == datetime.min.replace(tzinfo=UTC)


def test_decode_value_reports_the_position_after_the_value() -> None:
    data = bytes.fromhex("a10568656c6c6f520740")
    value, pos = decode_value(data)
    assert (value, pos) == ("hello", 7)
    assert decode_value(data, pos) == (7, 9)
    assert skip_value(data, 0) == 7 and skip_value(data, 7) == 9 and skip_value(data, 9) == 10


def test_skip_value_skips_compound_and_described_values_whole() -> None:
    data = encode([1, {"a": [b"x" * 300]}]) + encode(Described(0x75, b"body")) + b"\x40"
    first = skip_value(data, 0)
    second = skip_value(data, first)
    assert data[second:] == b"\x40"


MALFORMED = [
    ("", "empty input"),
    ("01", "unknown constructor"),
    ("ff", "unknown constructor"),
    ("a10568656c", "string shorter than its size"),
    ("b0ffffffff00", "binary shorter than its size"),
    ("70000001", "uint cut short"),
    ("98" + "00" * 15, "uuid cut short"),
    ("5602", "boolean byte not 0 or 1"),
    ("a102c328", "invalid utf-8"),
    ("c003054140", "list count exceeds its elements"),
    ("c00401415007", "list elements overrun its size"),
    ("c10403414140", "map with an odd number of elements"),
    ("c10402454540", "map with an unhashable key"),
    ("f0000000050fffffff40", "zero-width array asking for billions of elements"),
    ("e0040970", "array count exceeding its bytes"),
    ("e0020101", "array with an unknown element constructor"),
    ("00", "descriptor missing"),
    ("0053", "descriptor cut short"),
    ("005324", "described value missing"),
    ("005324a101", "accepted outcome that is not a list"),
    ("7300110000", "char that is not a code point"),
    ("405207", "trailing bytes after the value"),
]


@pytest.mark.parametrize(("hex_bytes", "why"), MALFORMED)
def test_malformed_input_is_a_decode_error(hex_bytes: str, why: str) -> None:
    with pytest.raises(DecodeError):
        decode(bytes.fromhex(hex_bytes))


def test_hostile_nesting_is_a_decode_error_not_a_crash() -> None:
    data = b"\x45"
    for _ in range(5000):
        data = b"\xd0" + struct.pack(">II", len(data) + 4, 1) + data
    with pytest.raises(DecodeError):
        decode(data)


def test_skip_value_rejects_truncation_and_unknown_constructors() -> None:
    with pytest.raises(DecodeError):
        skip_value(bytes.fromhex("a1056865"), 0)
    with pytest.raises(DecodeError):
        skip_value(b"\x02", 0)
    with pytest.raises(DecodeError):
        skip_value(b"", 0)
