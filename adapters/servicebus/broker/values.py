"""Typed values in JSON: application properties and rule parameters keep their type across a restart.

JSON has strings, numbers, booleans and null; a message's application properties also hold
datetimes, durations, UUIDs, binary and decimals, and a receiver must get back the type that
was sent. Those are stored as a list ``[tag, text]``: a list is never a property value itself,
so it is unambiguous, and native values (the vast majority) pass through as is.

The AMQP layer marks wire types Python lacks with subclasses of the plain types (``Int``
vs ``Long``, ``Symbol``, ``Char``, a decimal's bytes): a .NET receiver tells an int from a
long, so the subclass is kept too, as ``["type", "module:Class", base value]``. That is done
for this project's classes (``adapters.*``) only, the only ones re-imported on reading;
any other subclass is stored as its plain type.
"""

from __future__ import annotations

import base64
import functools
import importlib
import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

_NATIVE = (str, int, bool)
_SUBCLASSABLE: tuple[type[Any], ...] = (int, float, str, bytes)
_PROJECT = "adapters."


def encode_value(value: Any) -> Any:
    if value is None or type(value) in _NATIVE:
        return value
    for base in _SUBCLASSABLE:
        if isinstance(value, base) and type(value) is not base:
            cls = type(value)
            plain = encode_value(base(value))
            if not cls.__module__.startswith(_PROJECT):
                return plain
            return ["type", f"{cls.__module__}:{cls.__qualname__}", plain]
    if isinstance(value, float):
        return value if math.isfinite(value) else ["float", repr(value)]
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, timedelta):
        return ["timedelta", f"{value.days},{value.seconds},{value.microseconds}"]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, bytes | bytearray | memoryview):
        return ["bytes", base64.b64encode(bytes(value)).decode()]
    if isinstance(value, Decimal):
        return ["decimal", str(value)]
    raise TypeError(f"unsupported property value type {type(value).__name__}")


def decode_value(value: Any) -> Any:
    if type(value) is not list:
        return value
    if value[0] == "type":
        return _project_class(value[1])(decode_value(value[2]))
    tag, text = value
    if tag == "datetime":
        return datetime.fromisoformat(text)
    if tag == "timedelta":
        days, seconds, micros = (int(part) for part in text.split(","))
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    if tag == "uuid":
        return uuid.UUID(text)
    if tag == "bytes":
        return base64.b64decode(text)
    if tag == "decimal":
        return Decimal(text)
    if tag == "float":
        return float(text)
    raise ValueError(f"unknown value tag {tag!r}")


@functools.cache
def _project_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_PROJECT):
        raise ValueError(f"refusing to load value class {name!r}")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def encode_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: encode_value(value) for key, value in values.items()}


def decode_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: decode_value(value) for key, value in values.items()}
