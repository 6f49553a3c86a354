"""Entity writes in two steps, check then apply, so a batch can check every operation first.

Checking never changes state; applying cannot fail. A batch is atomic because it checks all
of its operations (each addresses a different row) before it applies any, with no await
between the two steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.table.edm import SYSTEM, Value, check_merged_size
from adapters.table.store import Entity, Key, Table, TableStore

INSERT = "insert"
REPLACE = "replace"
MERGE = "merge"
DELETE = "delete"


@dataclass
class Write:
    kind: str
    key: Key
    props: dict[str, Value] | None
    """The entity's new user properties (after a merge), None for a delete."""
    upsert: bool = False


def check_write(
    store: TableStore, table: Table, kind: str, key: Key, props: dict[str, Value], if_match: str | None
) -> Write:
    """The write an operation will make, or the Azure error it fails with (state untouched).

    Replace and merge without If-Match are the upserts (Insert Or Replace, Insert Or Merge).
    """
    if kind == INSERT:
        store.check_insert(table, key)
        return Write(INSERT, key, props)
    if kind == DELETE:
        store.check_existing(table, key, if_match)
        return Write(DELETE, key, None)
    upsert = if_match is None
    existing: Entity | None = table.entities.get(key) if upsert else store.check_existing(table, key, if_match)
    if kind == MERGE and existing is not None:
        merged = {name: value for name, value in existing.props.items() if name not in SYSTEM}
        merged.update(props)
        check_merged_size(key[0], key[1], merged)
        props = merged
    return Write(kind, key, props, upsert)


def apply_write(store: TableStore, table: Table, write: Write) -> Entity | None:
    if write.props is None:
        store.remove(table, write.key)
        return None
    return store.write(table, write.key, write.props)
