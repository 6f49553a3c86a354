"""Entity Data Model values: what a JSON entity body means, and how an entity is written back.

A property is held as ``(type, value)`` with a Python value that compares the way Azure
compares that type: str (String), int (Int32, Int64, and DateTime as 100 ns ticks since
0001-01-01), float (Double), bool (Boolean), lower-case str (Guid), bytes (Binary).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from adapters.table.errors import (
    EntityTooLarge,
    InvalidInput,
    InvalidValueType,
    PropertiesNeedValue,
    PropertyNameInvalid,
    PropertyNameTooLong,
    PropertyValueTooLarge,
    TooManyProperties,
    bad_key,
)

STRING = "Edm.String"
INT32 = "Edm.Int32"
INT64 = "Edm.Int64"
DOUBLE = "Edm.Double"
BOOLEAN = "Edm.Boolean"
DATETIME = "Edm.DateTime"
GUID = "Edm.Guid"
BINARY = "Edm.Binary"
TYPES = frozenset({STRING, INT32, INT64, DOUBLE, BOOLEAN, DATETIME, GUID, BINARY})

PARTITION_KEY = "PartitionKey"
ROW_KEY = "RowKey"
TIMESTAMP = "Timestamp"
SYSTEM = (PARTITION_KEY, ROW_KEY, TIMESTAMP)

MAX_PROPERTIES = 255
"""Including PartitionKey, RowKey and Timestamp."""
MAX_ENTITY_BYTES = 1024 * 1024
MAX_VALUE_BYTES = 64 * 1024
MAX_KEY_BYTES = 1024
MAX_NAME = 255
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_TICKS_PER_SECOND = 10_000_000
_EPOCH0 = datetime(1, 1, 1)
_MAX_TICKS = (datetime(9999, 12, 31, 23, 59, 59) - _EPOCH0) // timedelta(seconds=1) * 10_000_000 + 9_999_999
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)
# Key characters Azure refuses: / \ # ? and the control characters.
_BAD_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_DOUBLE_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

Value = tuple[str, Any]


def parse_datetime(text: str) -> int:
    """Ticks (100 ns since 0001-01-01 UTC) of an ISO 8601 date-time; ValueError when it is not one."""
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    seconds = (moment - _EPOCH0) // timedelta(seconds=1)
    ticks = seconds * _TICKS_PER_SECOND + (int((fraction or "0")[:7].ljust(7, "0")))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = (int(zone[1:3]) * 60 + int(zone[4:6])) * 60 * _TICKS_PER_SECOND
        ticks -= sign * offset
    if not 0 <= ticks <= _MAX_TICKS:
        raise ValueError(text)
    return ticks


def format_datetime(ticks: int) -> str:
    """Azure's form: seconds, then seven fractional digits only when there is a fraction."""
    seconds, fraction = divmod(ticks, _TICKS_PER_SECOND)
    text = (_EPOCH0 + timedelta(seconds=seconds)).isoformat()
    return f"{text}.{fraction:07d}Z" if fraction else f"{text}Z"


def timestamp_text(ticks: int) -> str:
    """A Timestamp as Azure writes it: always seven fractional digits."""
    seconds, fraction = divmod(ticks, _TICKS_PER_SECOND)
    return (_EPOCH0 + timedelta(seconds=seconds)).isoformat() + f".{fraction:07d}Z"


def etag_for(timestamp: str) -> str:
    """The weak ETag of an entity version: its Timestamp, URL-encoded (only ':' needs it)."""
    return "W/\"datetime'" + timestamp.replace(":", "%3A") + "'\""


def now_ticks(unix_seconds: float) -> int:
    return int(unix_seconds * _TICKS_PER_SECOND) + 621355968000000000


def parse_guid(text: str) -> str:
    return str(uuid.UUID(text))


def check_key(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"The '{name}' property must be of type Edm.String.")
    if _BAD_KEY.search(value):
        raise bad_key(name, value)
    if len(value) > MAX_KEY_BYTES // 2 and len(value.encode("utf-16-le")) > MAX_KEY_BYTES:
        raise bad_key(name, value)
    return value


def _utf16_size(text: str) -> int:
    return len(text.encode("utf-16-le")) if not text.isascii() else 2 * len(text)


def _typed(name: str, edm: str, raw: Any) -> Value:
    """One annotated property value, or the Azure error for a value its type cannot hold."""
    try:
        if edm == STRING:
            if not isinstance(raw, str):
                raise ValueError
            return STRING, raw
        if edm == INT32:
            value = int(raw) if isinstance(raw, str) else raw
            if not isinstance(value, int) or isinstance(value, bool) or not INT32_MIN <= value <= INT32_MAX:
                raise ValueError
            return INT32, value
        if edm == INT64:
            value = int(raw) if isinstance(raw, str) else raw
            if not isinstance(value, int) or isinstance(value, bool) or not INT64_MIN <= value <= INT64_MAX:
                raise ValueError
            return INT64, value
        if edm == DOUBLE:
            if isinstance(raw, str):
                word = _DOUBLE_WORDS.get(raw)
                return DOUBLE, word if word is not None else float(raw)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError
            return DOUBLE, float(raw)
        if edm == BOOLEAN:
            if not isinstance(raw, bool):
                raise ValueError
            return BOOLEAN, raw
        if edm == DATETIME:
            return DATETIME, parse_datetime(raw)
        if edm == GUID:
            return GUID, parse_guid(raw)
        if edm == BINARY:
            return BINARY, base64.b64decode(raw, validate=True)
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise InvalidInput(f"The value of property '{name}' is not a valid {edm}.") from None
    raise InvalidValueType(f"The type '{edm}' of property '{name}' is not supported.")


def _untyped(name: str, raw: Any) -> Value:
    if isinstance(raw, str):
        return STRING, raw
    if isinstance(raw, bool):
        return BOOLEAN, raw
    if isinstance(raw, int):
        if INT32_MIN <= raw <= INT32_MAX:
            return INT32, raw
        if INT64_MIN <= raw <= INT64_MAX:
            return INT64, raw
        raise InvalidInput(f"The value of property '{name}' is out of range.")
    if isinstance(raw, float):
        return DOUBLE, raw
    raise InvalidInput(f"The value of property '{name}' is not a supported type.")


def _value_size(edm: str, value: Any) -> int:
    if edm == STRING:
        return 4 + _utf16_size(value)
    if edm == BINARY:
        return 4 + len(value)
    if edm == INT32:
        return 4
    if edm == BOOLEAN:
        return 1
    if edm == GUID:
        return 16
    return 8


def parse_entity(body: Any) -> tuple[str | None, str | None, dict[str, Value]]:
    """(PartitionKey, RowKey, user properties) of a decoded JSON entity, validated as Azure does.

    The keys are None when the body does not carry them (merge and update take them from the URL).
    """
    if not isinstance(body, dict):
        raise InvalidInput("The entity body must be a JSON object.")
    types: dict[str, str] = {}
    for name, raw in body.items():
        if name.endswith("@odata.type"):
            if not isinstance(raw, str):
                raise InvalidInput(f"The type annotation of '{name[:-11]}' must be a string.")
            types[name[:-11]] = raw
    partition_key = row_key = None
    props: dict[str, Value] = {}
    size = 4
    for name, raw in body.items():
        if name.startswith("odata.") or "@" in name:
            continue
        if name == PARTITION_KEY:
            partition_key = check_key(name, raw)
            continue
        if name == ROW_KEY:
            row_key = check_key(name, raw)
            continue
        if name == TIMESTAMP or raw is None:
            continue
        if len(name) > MAX_NAME:
            raise PropertyNameTooLong()
        if not name.isidentifier():
            raise PropertyNameInvalid(f"The property name '{name[:64]}' is invalid.")
        edm = types.get(name)
        value = _typed(name, edm, raw) if edm is not None else _untyped(name, raw)
        value_size = _value_size(*value)
        if value[0] in (STRING, BINARY) and value_size - 4 > MAX_VALUE_BYTES:
            raise PropertyValueTooLarge()
        size += 8 + 2 * len(name) + value_size
        props[name] = value
    if len(props) + 3 > MAX_PROPERTIES:
        raise TooManyProperties()
    keys = (partition_key or "", row_key or "")
    size += 2 * sum(len(k) for k in keys)
    if size > MAX_ENTITY_BYTES:
        raise EntityTooLarge()
    return partition_key, row_key, props


def require_keys(partition_key: str | None, row_key: str | None) -> tuple[str, str]:
    if partition_key is None or row_key is None:
        raise PropertiesNeedValue()
    return partition_key, row_key


def entity_size(partition_key: str, row_key: str, props: dict[str, Value]) -> int:
    size = 4 + 2 * (len(partition_key) + len(row_key))
    for name, (edm, value) in props.items():
        if name not in SYSTEM:
            size += 8 + 2 * len(name) + _value_size(edm, value)
    return size


def check_merged_size(partition_key: str, row_key: str, props: dict[str, Value]) -> None:
    if len(props) + 3 > MAX_PROPERTIES:
        raise TooManyProperties()
    if entity_size(partition_key, row_key, props) > MAX_ENTITY_BYTES:
        raise EntityTooLarge()


# -- writing ------------------------------------------------------------------------------

NO_METADATA = 0
MINIMAL = 1
FULL = 2


def wire_value(edm: str, value: Any) -> Any:
    """The JSON form of a value (annotated types are strings where JSON cannot hold them)."""
    if edm in (STRING, INT32, BOOLEAN):
        return value
    if edm == INT64:
        return str(value)
    if edm == DOUBLE:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if edm == DATETIME:
        return format_datetime(value)
    if edm == BINARY:
        return base64.b64encode(value).decode()
    return value  # GUID


def write_properties(out: dict[str, Any], props: dict[str, Value], level: int, select: list[str] | None) -> None:
    """Append user properties to ``out`` at a metadata level, in Azure's annotation style."""
    names = props if select is None else [n for n in select if n in props and n not in SYSTEM]
    for name in names:
        if name in SYSTEM:
            continue
        edm, value = props[name]
        if level and edm != STRING and edm != BOOLEAN and (edm != INT32 or level == FULL):
            out[name + "@odata.type"] = edm
        out[name] = wire_value(edm, value)


# -- persistence --------------------------------------------------------------------------

_SHORT = {STRING: "s", INT32: "i", INT64: "l", DOUBLE: "d", BOOLEAN: "b", DATETIME: "t", GUID: "g", BINARY: "x"}
_LONG = {v: k for k, v in _SHORT.items()}


def props_record(props: dict[str, Value]) -> list[Any]:
    """User properties as JSON-able triples (NaN and the infinities are kept as words)."""
    record: list[Any] = []
    for name, (edm, value) in props.items():
        if name in SYSTEM:
            continue
        if edm == BINARY:
            value = base64.b64encode(value).decode()
        elif edm == DOUBLE and not math.isfinite(value):
            value = wire_value(DOUBLE, value)
        record.append((name, _SHORT[edm], value))
    return record


def props_from_record(record: list[Any]) -> dict[str, Value]:
    props: dict[str, Value] = {}
    for name, short, value in record:
        edm = _LONG[short]
        if edm == BINARY:
            value = base64.b64decode(value)
        elif edm == DOUBLE:
            value = _DOUBLE_WORDS[value] if isinstance(value, str) else float(value)
        props[name] = (edm, value)
    return props
