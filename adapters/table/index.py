"""Secondary indexes: a table's entities ordered by one property's typed value.

A filter such as ``n ge 10 and n lt 20`` over a large partition would otherwise test every
entity in it. An index on ``n`` holds ``((type, value), key)`` in value order, so the entities
that can match are one slice of it. Values are ``(type, value)`` tuples, so each type is its
own band of the order and a bound of one type never reaches values of another (Azure never
compares across types). NaN has no place in an order and is left out: no range matches it.

Indexes are made on demand, for a property that a query bounds on a large table, and kept up
to date by every write after that.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

from sortedcontainers import SortedKeyList

from adapters.table.edm import DOUBLE, SYSTEM

Key = tuple[str, str]
Typed = tuple[str, Any]
Bound = tuple[str, Typed]

MIN_ENTITIES = 2000
"""Tables smaller than this are scanned: an index would not pay for its upkeep."""
MAX_INDEXES = 8
"""Per table: every index costs each write one removal and one insertion."""
SELECTIVITY = 4
"""Use an index only when it leaves at most 1/SELECTIVITY of the key range to test."""

_VALUE = itemgetter(0)


def indexable(value: Typed) -> bool:
    return not (value[0] == DOUBLE and math.isnan(value[1]))


class PropertyIndex:
    __slots__ = ("name", "entries")

    def __init__(self, name: str, entities: Any) -> None:
        self.name = name
        self.entries: SortedKeyList = SortedKeyList(
            ((e.props[name], e.key) for e in entities if name in e.props and indexable(e.props[name])), key=_VALUE
        )

    def add(self, key: Key, props: dict[str, Typed]) -> None:
        value = props.get(self.name)
        if value is not None and indexable(value):
            self.entries.add((value, key))

    def discard(self, key: Key, props: dict[str, Typed]) -> None:
        value = props.get(self.name)
        if value is not None and indexable(value):
            self.entries.discard((value, key))

    def span(self, bounds: list[Bound]) -> tuple[int, int]:
        """The positions [start, stop) of the entries that satisfy every bound."""
        entries = self.entries
        start, stop = 0, len(entries)
        for op, (edm, value) in bounds:
            typed = (edm, value)
            if op == "eq":
                low, high = entries.bisect_key_left(typed), entries.bisect_key_right(typed)
            elif op == "gt":
                low, high = entries.bisect_key_right(typed), entries.bisect_key_left((edm + "\x00",))
            elif op == "ge":
                low, high = entries.bisect_key_left(typed), entries.bisect_key_left((edm + "\x00",))
            elif op == "lt":
                low, high = entries.bisect_key_left((edm,)), entries.bisect_key_left(typed)
            else:  # le
                low, high = entries.bisect_key_left((edm,)), entries.bisect_key_right(typed)
            start, stop = max(start, low), min(stop, high)
        return start, max(start, stop)

    def keys(self, start: int, stop: int) -> list[Key]:
        return [entry[1] for entry in self.entries.islice(start, stop)]


def wanted(name: str) -> bool:
    return name not in SYSTEM
