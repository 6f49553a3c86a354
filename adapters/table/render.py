"""Entities and tables as OData JSON, at the metadata level the client asked for."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from adapters.table.edm import (
    DATETIME,
    FULL,
    MINIMAL,
    NO_METADATA,
    PARTITION_KEY,
    ROW_KEY,
    TIMESTAMP,
    write_properties,
)
from adapters.table.errors import invalid_query
from adapters.table.store import Entity

CONTENT_TYPES = {
    NO_METADATA: b"application/json;odata=nometadata;streaming=true;charset=utf-8",
    MINIMAL: b"application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
    FULL: b"application/json;odata=fullmetadata;streaming=true;charset=utf-8",
}


def metadata_level(accept: str | None, format_query: str | None) -> int:
    text = format_query or accept or ""
    if "nometadata" in text:
        return NO_METADATA
    if "fullmetadata" in text:
        return FULL
    return MINIMAL


def edit_link(table: str, partition_key: str, row_key: str) -> str:
    pk = quote(partition_key.replace("'", "''"), safe="")
    rk = quote(row_key.replace("'", "''"), safe="")
    return f"{table}(PartitionKey='{pk}',RowKey='{rk}')"


def entity_json(entity: Entity, level: int, select: list[str] | None, base: str, table: str) -> dict[str, Any]:
    """One entity's JSON object (without ``odata.metadata``)."""
    if level == MINIMAL and select is None:
        return entity.minimal()
    out: dict[str, Any] = {}
    if level == FULL:
        link = edit_link(table, entity.partition_key, entity.row_key)
        out["odata.type"] = f"{base.rstrip('/').rsplit('/', 1)[-1]}.{table}"
        out["odata.id"] = f"{base}/{link}"
        out["odata.etag"] = entity.etag
        out["odata.editLink"] = link
    elif level == MINIMAL:
        out["odata.etag"] = entity.etag
    wanted = None if select is None else set(select)
    if wanted is None or PARTITION_KEY in wanted:
        out[PARTITION_KEY] = entity.partition_key
    if wanted is None or ROW_KEY in wanted:
        out[ROW_KEY] = entity.row_key
    if wanted is None or TIMESTAMP in wanted:
        if level == FULL:
            out[TIMESTAMP + "@odata.type"] = DATETIME
        out[TIMESTAMP] = entity.timestamp
    write_properties(out, entity.props, level, select)
    return out


def parse_select(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or "*" in names:
        return None
    return names


def encode_token(key: str) -> str:
    """An opaque continuation value (never empty, safe in a header)."""
    return "1!" + base64.urlsafe_b64encode(key.encode("utf-8")).decode()


def decode_token(name: str, value: str) -> str:
    if not value.startswith("1!"):
        raise invalid_query(name, value)
    try:
        return base64.urlsafe_b64decode(value[2:].encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_query(name, value) from None
