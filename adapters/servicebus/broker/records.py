"""Entity definitions as stored: the ``entities`` dataclasses to JSON and back.

Field by field, with durations, times and rule parameters in the tagged form of
``values``, and filters/actions as ``{"$type": class name, ...fields}``. Fields missing from
a stored record take their defaults, so a record written before a field existed loads.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

from adapters.servicebus.broker.values import decode_mapping, decode_value, encode_mapping, encode_value
from adapters.servicebus.entities import (
    CorrelationFilter,
    EntityStatus,
    FalseFilter,
    SqlFilter,
    SqlRuleAction,
    TrueFilter,
)

_RULE_PARTS: dict[str, type] = {
    cls.__name__: cls for cls in (SqlFilter, CorrelationFilter, TrueFilter, FalseFilter, SqlRuleAction)
}

T = TypeVar("T")


def _encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$type": type(value).__name__, **encode_record(value)}
    if isinstance(value, dict):
        return encode_mapping(value)
    return encode_value(value)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("$type")
        if kind is None:
            return decode_mapping(value)
        cls = _RULE_PARTS[kind]
        return decode_record(cls, {k: v for k, v in value.items() if k != "$type"})
    return decode_value(value)


def encode_record(obj: Any) -> dict[str, Any]:
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def decode_record(cls: type[T], record: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: _decode(v) for k, v in record.items() if k in names}
    if "status" in values:
        values["status"] = EntityStatus(values["status"])
    return cls(**values)
