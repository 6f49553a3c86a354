"""EDM values: DateTime ticks and their text, entity validation, persistence records."""

from __future__ import annotations

import math

import pytest

from adapters.table.edm import (
    BINARY,
    DOUBLE,
    INT32,
    INT64,
    STRING,
    etag_for,
    format_datetime,
    parse_datetime,
    parse_entity,
    props_from_record,
    props_record,
    timestamp_text,
)
from adapters.table.errors import AzureError, InvalidInput


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2020-02-29T13:45:07.123456Z", "2020-02-29T13:45:07.1234560Z"),
        ("2020-02-29T13:45:07Z", "2020-02-29T13:45:07Z"),
        ("2020-02-29T13:45:07.12345678Z", "2020-02-29T13:45:07.1234567Z"),
        ("2020-02-29T15:45:07+02:00", "2020-02-29T13:45:07Z"),
        ("2020-02-29T13:45", "2020-02-29T13:45:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999Z"),
    ],
)
def test_datetime_round_trip(text: str, canonical: str) -> None:
    assert format_datetime(parse_datetime(text)) == canonical


@pytest.mark.parametrize(
    "text", ["yesterday", "2020-13-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00Z", ""]
)
def test_invalid_datetimes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_timestamp_and_etag_text() -> None:
    ticks = parse_datetime("2024-05-01T12:00:00.5Z")
    assert timestamp_text(ticks) == "2024-05-01T12:00:00.5000000Z"
    assert etag_for(timestamp_text(ticks)) == "W/\"datetime'2024-05-01T12%3A00%3A00.5000000Z'\""


def test_parse_entity_types_and_keys() -> None:
    pk, rk, props = parse_entity(
        {
            "PartitionKey": "p",
            "RowKey": "r",
            "odata.etag": "ignored",
            "Timestamp": "ignored",
            "s": "x",
            "i": 5,
            "big": 2**40,
            "l@odata.type": "Edm.Int64",
            "l": "-9",
            "d@odata.type": "Edm.Double",
            "d": "-Infinity",
            "b@odata.type": "Edm.Binary",
            "b": "AAE=",
            "n": None,
        }
    )
    assert (pk, rk) == ("p", "r")
    assert props["s"] == (STRING, "x") and props["i"] == (INT32, 5)
    assert props["big"] == (INT64, 2**40) and props["l"] == (INT64, -9)
    assert props["d"] == (DOUBLE, -math.inf) and props["b"] == (BINARY, b"\x00\x01")
    assert "n" not in props and "Timestamp" not in props


@pytest.mark.parametrize(
    "body",
    [
        {"PartitionKey": "p", "RowKey": "r", "x@odata.type": "Edm.Int32", "x": 2**31},
        {"PartitionKey": "p", "RowKey": "r", "x@odata.type": "Edm.Guid", "x": "nope"},
        {"PartitionKey": "p", "RowKey": "r", "x@odata.type": "Edm.Boolean", "x": "true"},
        {"PartitionKey": "p", "RowKey": "r", "x": {"nested": 1}},
        {"PartitionKey": 5, "RowKey": "r"},
    ],
)
def test_invalid_values_are_400(body: dict) -> None:
    with pytest.raises(InvalidInput):
        parse_entity(body)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(AzureError) as info:
        parse_entity({"PartitionKey": "p", "RowKey": "r", "x@odata.type": "Edm.Decimal", "x": "1"})
    assert info.value.status == 400


def test_records_keep_every_value() -> None:
    _, _, props = parse_entity(
        {"PartitionKey": "p", "RowKey": "r", "nan": math.nan, "bin@odata.type": "Edm.Binary", "bin": "/w==", "s": "t"}
    )
    back = props_from_record(props_record(props))
    assert math.isnan(back["nan"][1]) and back["bin"] == props["bin"] and back["s"] == props["s"]
