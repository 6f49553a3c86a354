"""Table state: authoritative in memory, written through to the state backend.

Each table keeps its entities twice: in a dict by ``(PartitionKey, RowKey)`` for point queries
and in a ``SortedKeyList`` in key order, so a partition or key-range scan walks only that slice
of the order. An update changes the entity object in place (its position never changes).
Every write is a put or delete of one backend key, so a batch's writes land in one commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any

import orjson
from sortedcontainers import SortedDict, SortedKeyList

from adapters.table.edm import (
    DATETIME,
    MINIMAL,
    PARTITION_KEY,
    ROW_KEY,
    STRING,
    TIMESTAMP,
    Value,
    etag_for,
    now_ticks,
    props_from_record,
    props_record,
    timestamp_text,
    write_properties,
)
from adapters.table.errors import (
    EntityAlreadyExists,
    ResourceNotFound,
    TableAlreadyExists,
    UpdateConditionNotSatisfied,
)
from adapters.table.filter import Filter, KeyRange
from adapters.table.index import MAX_INDEXES, MIN_ENTITIES, SELECTIVITY, PropertyIndex, wanted
from controlplane.state.backend import StateBackend

TABLES = "tables"
ENTITIES = "entities"
SERVICE = "service"

# Past any character a key may hold (control characters are refused in keys).
_AFTER = "\x00"

Key = tuple[str, str]


class Entity:
    __slots__ = ("key", "partition_key", "row_key", "props", "ticks", "timestamp", "etag", "_minimal")

    def __init__(self, partition_key: str, row_key: str, props: dict[str, Value], ticks: int) -> None:
        self.key: Key = (partition_key, row_key)
        self.partition_key = partition_key
        self.row_key = row_key
        self.props = props
        """User properties plus PartitionKey, RowKey and Timestamp (what a filter sees)."""
        self.ticks = ticks
        self.timestamp = timestamp_text(ticks)
        self.etag = etag_for(self.timestamp)
        self._minimal: dict[str, Any] | None = None

    def replace(self, props: dict[str, Value], ticks: int) -> None:
        """Become the next version (the object stays where it is in the table's order)."""
        self.props = props
        self.ticks = ticks
        self.timestamp = timestamp_text(ticks)
        self.etag = etag_for(self.timestamp)
        self._minimal = None

    def minimal(self) -> dict[str, Any]:
        """The minimal-metadata JSON object (without ``odata.metadata``), built once per version."""
        if self._minimal is None:
            out: dict[str, Any] = {
                "odata.etag": self.etag,
                PARTITION_KEY: self.partition_key,
                ROW_KEY: self.row_key,
                TIMESTAMP: self.timestamp,
            }
            write_properties(out, self.props, MINIMAL, None)
            self._minimal = out
        return self._minimal

    def record(self) -> list[Any]:
        return [self.ticks, props_record(self.props)]


def _with_system(partition_key: str, row_key: str, ticks: int, props: dict[str, Value]) -> dict[str, Value]:
    full: dict[str, Value] = {
        PARTITION_KEY: (STRING, partition_key),
        ROW_KEY: (STRING, row_key),
        TIMESTAMP: (DATETIME, ticks),
    }
    full.update(props)
    return full


_BY_KEY = attrgetter("key")


class Table:
    __slots__ = ("account", "name", "acl", "entities", "order", "indexes", "prefix", "props")

    def __init__(self, account: str, name: str, acl: list[dict[str, str]] | None = None) -> None:
        self.account = account
        self.name = name
        self.acl: list[dict[str, str]] = acl or []
        self.entities: dict[Key, Entity] = {}
        self.order: SortedKeyList = SortedKeyList(key=_BY_KEY)
        self.indexes: dict[str, PropertyIndex] = {}
        """Secondary indexes by property name, made on demand by queries (see index.py)."""
        self.prefix = f"{account}/{name.lower()}/"
        """The key prefix of this table's entities in the state backend."""
        self.props: dict[str, Value] = {"TableName": (STRING, name)}
        """What a Query Tables filter sees."""

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "acl": self.acl}


def entity_key(table: Table, key: Key) -> str:
    return table.prefix + orjson.dumps(key).decode()


def matches_etag(entity: Entity, if_match: str | None) -> bool:
    if if_match is None or if_match.strip() == "*":
        return True
    return any(candidate.strip() == entity.etag for candidate in if_match.split(","))


class TableStore:
    def __init__(self, state: StateBackend, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self.tables: dict[tuple[str, str], Table] = {}
        self._names: dict[str, SortedDict] = {}
        """Account -> lower-case table name -> Table, in name order (what Query Tables pages)."""
        self.service_properties: dict[str, str] = {}
        self._last_ticks = 0

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        self.tables.clear()
        self._names.clear()
        self.service_properties = {k: v for k, v in self.state.load(SERVICE)}
        for key, value in self.state.load(TABLES):
            account, _, _ = key.partition("/")
            self._add_table(Table(account, value["name"], list(value.get("acl") or [])))
        orphans: list[str] = []
        loaded: dict[Table, list[Entity]] = {}
        for key, value in self.state.load(ENTITIES):
            account, lower, rest = key.split("/", 2)
            table = self.tables.get((account, lower))
            if table is None:
                orphans.append(key)
                continue
            partition_key, row_key = orjson.loads(rest)
            ticks, record = value
            props = _with_system(partition_key, row_key, ticks, props_from_record(record))
            entity = Entity(partition_key, row_key, props, ticks)
            table.entities[entity.key] = entity
            loaded.setdefault(table, []).append(entity)
            self._last_ticks = max(self._last_ticks, ticks)
        for table, entities in loaded.items():
            table.order.update(entities)
        for key in orphans:
            self.state.delete(ENTITIES, key)

    def reset(self) -> None:
        self.tables.clear()
        self._names.clear()
        self.service_properties.clear()
        for namespace in (TABLES, ENTITIES, SERVICE):
            self.state.delete_prefix(namespace, "")

    def counts(self) -> dict[str, int]:
        return {"tables": len(self.tables), "entities": sum(len(t.entities) for t in self.tables.values())}

    def next_ticks(self) -> int:
        # Strictly increasing, so two writes in one clock tick still get different ETags.
        ticks = max(now_ticks(self.clock()), self._last_ticks + 1)
        self._last_ticks = ticks
        return ticks

    # -- tables ----------------------------------------------------------------------------

    def _add_table(self, table: Table) -> None:
        lower = table.name.lower()
        self.tables[(table.account, lower)] = table
        self._names.setdefault(table.account, SortedDict())[lower] = table

    def table(self, account: str, name: str) -> Table | None:
        return self.tables.get((account, name.lower()))

    def create_table(self, account: str, name: str) -> Table:
        if (account, name.lower()) in self.tables:
            raise TableAlreadyExists()
        table = Table(account, name)
        self._add_table(table)
        self.state.put(TABLES, f"{account}/{name.lower()}", table.record())
        return table

    def delete_table(self, table: Table) -> None:
        lower = table.name.lower()
        del self.tables[(table.account, lower)]
        del self._names[table.account][lower]
        self.state.delete(TABLES, f"{table.account}/{lower}")
        self.state.delete_prefix(ENTITIES, table.prefix)

    def list_tables(self, account: str, start: str) -> Iterator[Table]:
        names = self._names.get(account)
        if not names:
            return iter(())
        return (names[k] for k in names.irange(minimum=start.lower() or None))

    def set_acl(self, table: Table, acl: list[dict[str, str]]) -> None:
        table.acl = acl
        self.state.put(TABLES, f"{table.account}/{table.name.lower()}", table.record())

    def access_policy(self, account: str, name: str, identifier: str) -> dict[str, str] | None:
        table = self.table(account, name)
        if table is None:
            return None
        for policy in table.acl:
            if policy.get("id") == identifier:
                return policy
        return None

    def set_service_properties(self, account: str, document: str) -> None:
        self.service_properties[account] = document
        self.state.put(SERVICE, account, document)

    # -- entities --------------------------------------------------------------------------

    def get(self, table: Table, key: Key) -> Entity:
        entity = table.entities.get(key)
        if entity is None:
            raise ResourceNotFound()
        return entity

    def check_insert(self, table: Table, key: Key) -> None:
        if key in table.entities:
            raise EntityAlreadyExists()

    def check_existing(self, table: Table, key: Key, if_match: str | None) -> Entity:
        entity = table.entities.get(key)
        if entity is None:
            raise ResourceNotFound()
        if not matches_etag(entity, if_match):
            raise UpdateConditionNotSatisfied()
        return entity

    def write(self, table: Table, key: Key, props: dict[str, Value]) -> Entity:
        """Store an entity version (insert, replace or merged result) with a fresh timestamp."""
        ticks = self.next_ticks()
        full = _with_system(key[0], key[1], ticks, props)
        entity = table.entities.get(key)
        if entity is None:
            entity = Entity(key[0], key[1], full, ticks)
            table.entities[key] = entity
            table.order.add(entity)
        else:
            for index in table.indexes.values():
                index.discard(key, entity.props)
            entity.replace(full, ticks)
        for index in table.indexes.values():
            index.add(key, full)
        self.state.put(ENTITIES, entity_key(table, key), entity.record())
        return entity

    def remove(self, table: Table, key: Key) -> None:
        entity = table.entities.pop(key)
        table.order.remove(entity)
        for index in table.indexes.values():
            index.discard(key, entity.props)
        self.state.delete(ENTITIES, entity_key(table, key))

    def query(
        self, table: Table, plan: Filter, top: int, resume: Key | None = None, allowed: Any = None
    ) -> tuple[list[Entity], Key | None]:
        """Up to ``top`` matches from ``resume`` on, and the key of the next match (the continuation).

        ``allowed`` is a table SAS's key range: entities outside it are never returned.
        """
        bounds = _bounds(plan, resume)
        if bounds is None:
            return [], None
        start, stop = _positions(table.order, bounds)
        candidates = self._indexed(table, plan, bounds, stop - start)
        if candidates is None:
            candidates = table.order.islice(start, stop) if start < stop else iter(())
        if allowed is not None:
            candidates = (e for e in candidates if allowed.contains(e.partition_key, e.row_key))
        found = plan.take(candidates, top + 1)
        if len(found) > top:
            return found[:top], found[top].key
        return found, None

    def _indexed(self, table: Table, plan: Filter, bounds: Bounds, in_range: int) -> Iterator[Entity] | None:
        """The candidates in key order from a secondary index, or None when a scan is cheaper."""
        if not (plan.bounds or plan.unions) or len(table.order) < MIN_ENTITIES:
            return None
        # Each option: an index and the spans of it that hold every match.
        options: list[tuple[PropertyIndex, list[tuple[int, int]]]] = []
        for name, terms in plan.bounds.items():
            index = self._index(table, name)
            if index is not None:
                options.append((index, [index.span(terms)]))
        for name, choices in plan.unions:
            index = self._index(table, name)
            if index is not None:
                options.append((index, [index.span([choice]) for choice in choices]))
        if not options:
            return None
        index, spans = min(options, key=lambda option: sum(stop - start for start, stop in option[1]))
        if sum(stop - start for start, stop in spans) * SELECTIVITY > in_range:
            return None
        low, low_inclusive, high, high_inclusive = bounds
        found = {key for start, stop in spans for key in index.keys(start, stop)}
        keys = sorted(
            key
            for key in found
            if (low is None or (key >= low if low_inclusive else key > low))
            and (high is None or (key <= high if high_inclusive else key < high))
        )
        entities = table.entities
        return (entities[key] for key in keys)

    @staticmethod
    def _index(table: Table, name: str) -> PropertyIndex | None:
        index = table.indexes.get(name)
        if index is None and len(table.indexes) < MAX_INDEXES and wanted(name):
            index = table.indexes[name] = PropertyIndex(name, table.order)
        return index

    def scan(self, table: Table, plan: Filter, resume: Key | None) -> Iterator[Entity]:
        """Entities in key order from ``resume`` that lie in the plan's key range (unfiltered)."""
        bounds = _bounds(plan, resume)
        if bounds is None:
            return iter(())
        start, stop = _positions(table.order, bounds)
        return table.order.islice(start, stop) if start < stop else iter(())


Bounds = tuple[tuple[str, ...] | None, bool, tuple[str, ...] | None, bool]


def _bounds(plan: Filter, resume: Key | None) -> Bounds | None:
    """(low, inclusive, high, inclusive) of the keys a query may return; None when none can match."""
    partition, row = plan.partition, plan.row
    if partition.empty or row.empty:
        return None
    low, low_inclusive = _lower_bound(partition, row)
    high, high_inclusive = _upper_bound(partition, row)
    if resume is not None and (low is None or resume > low):
        low, low_inclusive = resume, True
    return low, low_inclusive, high, high_inclusive


def _positions(order: SortedKeyList, bounds: Bounds) -> tuple[int, int]:
    low, low_inclusive, high, high_inclusive = bounds
    start = 0
    if low is not None:
        start = order.bisect_key_left(low) if low_inclusive else order.bisect_key_right(low)
    stop = len(order)
    if high is not None:
        stop = order.bisect_key_right(high) if high_inclusive else order.bisect_key_left(high)
    return start, stop


def _lower_bound(partition: KeyRange, row: KeyRange) -> tuple[tuple[str, ...] | None, bool]:
    exact = partition.exact
    if exact is not None and row.low is not None:
        value, inclusive = row.low
        return ((exact, value), True) if inclusive else ((exact, value + _AFTER), True)
    if partition.low is None:
        return None, True
    value, inclusive = partition.low
    return ((value,), True) if inclusive else ((value + _AFTER,), True)


def _upper_bound(partition: KeyRange, row: KeyRange) -> tuple[tuple[str, ...] | None, bool]:
    exact = partition.exact
    if exact is not None and row.high is not None:
        value, inclusive = row.high
        return (exact, value), inclusive
    if partition.high is None:
        return None, True
    value, inclusive = partition.high
    return ((value + _AFTER,), False) if inclusive else ((value,), False)
