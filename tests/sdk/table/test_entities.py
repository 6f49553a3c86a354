"""Entities: insert, get, update, merge, upserts and delete with If-Match, every EDM type, Prefer,
metadata levels and the size and key limits, through the real azure-data-tables SDK."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

GUID = uuid.UUID("c9da6455-213d-42c9-9a79-3e9149a57833")
WHEN = datetime(2020, 2, 29, 13, 45, 7, 123456, tzinfo=UTC)


def _recorder() -> tuple[list, dict]:
    seen: list = []
    return seen, {"raw_response_hook": lambda response: seen.append(response.http_response)}


def _every_type() -> dict:
    return {
        "PartitionKey": "p",
        "RowKey": "every-type",
        "text": "héllo 'quoted' \u2603",
        "empty": "",
        "int32": -(2**31),
        "int64": EntityProperty(2**62 + 7, EdmType.INT64),
        "double": 2.5,
        "whole_double": 3.0,
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "yes": True,
        "no": False,
        "when": WHEN,
        "guid": GUID,
        "binary": b"\x00\x01\xfe\xff",
    }


def test_every_edm_type_round_trips(table: TableClient) -> None:
    table.create_entity(_every_type())
    got = table.get_entity("p", "every-type")
    assert got["text"] == "héllo 'quoted' \u2603"
    assert got["empty"] == ""
    assert got["int32"] == -(2**31)
    assert got["int64"] == EntityProperty(2**62 + 7, EdmType.INT64)
    assert got["double"] == 2.5 and isinstance(got["double"], float)
    assert got["whole_double"] == 3.0 and isinstance(got["whole_double"], float)
    assert math.isnan(got["nan"])
    assert got["inf"] == math.inf and got["ninf"] == -math.inf
    assert got["yes"] is True and got["no"] is False
    assert got["when"] == WHEN
    assert got["guid"] == GUID
    assert got["binary"] == b"\x00\x01\xfe\xff"
    assert got.metadata["etag"].startswith("W/\"datetime'")
    assert got.metadata["timestamp"].year >= 2024
    # A round-tripped entity can be written back unchanged (the SDK keeps the service's DateTime text).
    table.update_entity(got, mode=UpdateMode.REPLACE)
    assert table.get_entity("p", "every-type")["when"] == WHEN


def test_insert_is_201_with_body_and_return_no_content_is_204(table: TableClient) -> None:
    seen, hook = _recorder()
    table.create_entity({"PartitionKey": "p", "RowKey": "a", "v": 1}, **hook)
    assert seen[-1].status_code == 201
    body = json.loads(seen[-1].text())
    assert body["v"] == 1 and body["odata.etag"] == seen[-1].headers["ETag"]
    metadata = table.create_entity(
        {"PartitionKey": "p", "RowKey": "b"}, headers={"Prefer": "return-no-content"}, **hook
    )
    assert seen[-1].status_code == 204
    assert seen[-1].headers["Preference-Applied"] == "return-no-content"
    assert metadata["etag"] == seen[-1].headers["ETag"]


def test_insert_existing_is_409(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "dup"})
    with pytest.raises(ResourceExistsError) as info:
        table.create_entity({"PartitionKey": "p", "RowKey": "dup", "other": 1})
    assert info.value.status_code == 409
    assert "EntityAlreadyExists" in str(info.value)
    assert "other" not in table.get_entity("p", "dup")


def test_get_missing_is_404_resource_not_found(table: TableClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        table.get_entity("p", "missing")
    assert info.value.status_code == 404
    assert info.value.error_code == "ResourceNotFound"


def test_keys_with_quotes_and_unicode(table: TableClient) -> None:
    entity = {"PartitionKey": "it's a 'key'", "RowKey": "ünï cödé (1,2) & =", "v": 1}
    table.create_entity(entity)
    assert table.get_entity(entity["PartitionKey"], entity["RowKey"])["v"] == 1
    table.update_entity({**entity, "v": 2})
    assert table.get_entity(entity["PartitionKey"], entity["RowKey"])["v"] == 2
    table.delete_entity(entity["PartitionKey"], entity["RowKey"])
    assert list(table.list_entities()) == []


def test_replace_and_merge_with_if_match(table: TableClient) -> None:
    created = table.create_entity({"PartitionKey": "p", "RowKey": "r", "a": 1, "b": 2})
    stale = created["etag"]
    replaced = table.update_entity(
        {"PartitionKey": "p", "RowKey": "r", "a": 10}, mode=UpdateMode.REPLACE,
        etag=stale, match_condition=MatchConditions.IfNotModified,
    )  # fmt: skip
    assert replaced["etag"] != stale
    assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "a": 10}
    for mode in (UpdateMode.REPLACE, UpdateMode.MERGE):
        with pytest.raises(ResourceModifiedError) as info:
            table.update_entity(
                {"PartitionKey": "p", "RowKey": "r", "c": 3}, mode=mode,
                etag=stale, match_condition=MatchConditions.IfNotModified,
            )  # fmt: skip
        assert info.value.status_code == 412
        assert "UpdateConditionNotSatisfied" in str(info.value)
    table.update_entity(
        {"PartitionKey": "p", "RowKey": "r", "c": 3}, mode=UpdateMode.MERGE,
        etag=replaced["etag"], match_condition=MatchConditions.IfNotModified,
    )  # fmt: skip
    assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "a": 10, "c": 3}
    # If-Match: * (the SDK's unconditional update) needs the entity to exist.
    with pytest.raises(ResourceNotFoundError):
        table.update_entity({"PartitionKey": "p", "RowKey": "absent", "a": 1}, mode=UpdateMode.MERGE)


def test_upserts_insert_replace_and_merge(table: TableClient) -> None:
    seen, hook = _recorder()
    table.upsert_entity({"PartitionKey": "p", "RowKey": "u", "a": 1, "b": 1}, mode=UpdateMode.MERGE, **hook)
    table.upsert_entity({"PartitionKey": "p", "RowKey": "u", "c": 1}, mode=UpdateMode.MERGE, **hook)
    assert set(table.get_entity("p", "u")) == {"PartitionKey", "RowKey", "a", "b", "c"}
    table.upsert_entity({"PartitionKey": "p", "RowKey": "u", "d": 1}, mode=UpdateMode.REPLACE, **hook)
    assert set(table.get_entity("p", "u")) == {"PartitionKey", "RowKey", "d"}
    table.upsert_entity({"PartitionKey": "p", "RowKey": "v", "d": 2}, mode=UpdateMode.REPLACE, **hook)
    assert table.get_entity("p", "v")["d"] == 2
    assert [r.status_code for r in seen] == [204, 204, 204, 204]
    assert all("If-Match" not in r.request.headers for r in seen)


def test_delete_with_if_match(table: TableClient) -> None:
    created = table.create_entity({"PartitionKey": "p", "RowKey": "d"})
    table.update_entity({"PartitionKey": "p", "RowKey": "d", "x": 1})
    with pytest.raises(ResourceModifiedError) as info:
        table.delete_entity("p", "d", etag=created["etag"], match_condition=MatchConditions.IfNotModified)
    assert info.value.status_code == 412
    current = table.get_entity("p", "d").metadata["etag"]
    table.delete_entity("p", "d", etag=current, match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceNotFoundError):
        table.get_entity("p", "d")
    seen, hook = _recorder()
    table.delete_entity("p", "d", **hook)  # the SDK swallows the 404 of a missing entity
    assert seen[-1].status_code == 404


def test_metadata_levels(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "m", "big": EntityProperty(5, EdmType.INT64), "n": 1})
    bodies = {}
    for level in ("nometadata", "minimalmetadata", "fullmetadata"):
        seen, hook = _recorder()
        got = table.get_entity("p", "m", headers={"Accept": f"application/json;odata={level}"}, **hook)
        assert got["n"] == 1
        assert seen[-1].headers["Content-Type"].startswith(f"application/json;odata={level}")
        bodies[level] = json.loads(seen[-1].text())
    assert set(bodies["nometadata"]) == {"PartitionKey", "RowKey", "Timestamp", "big", "n"}
    assert bodies["nometadata"]["big"] == "5"
    assert bodies["minimalmetadata"]["big@odata.type"] == "Edm.Int64"
    assert "odata.metadata" in bodies["minimalmetadata"] and "odata.etag" in bodies["minimalmetadata"]
    assert "n@odata.type" not in bodies["minimalmetadata"]
    full = bodies["fullmetadata"]
    assert full["Timestamp@odata.type"] == "Edm.DateTime"
    assert {"odata.type", "odata.id", "odata.editLink", "odata.etag"} <= set(full)


@pytest.mark.parametrize("bad", ["a/b", "a\\b", "a#b", "a?b", "a\tb", "a\x7fb"])
def test_bad_key_characters_are_400(table: TableClient, bad: str) -> None:
    for entity in ({"PartitionKey": bad, "RowKey": "r"}, {"PartitionKey": "p", "RowKey": bad}):
        with pytest.raises(HttpResponseError) as info:
            table.create_entity(entity)
        assert info.value.status_code == 400
    assert list(table.list_entities()) == []


def test_key_length_limit(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "k" * 512})
    with pytest.raises(HttpResponseError) as info:
        table.create_entity({"PartitionKey": "p", "RowKey": "k" * 513})
    assert info.value.status_code == 400


def test_entity_over_1_mib_is_413(table: TableClient) -> None:
    # 17 strings of 32,000 characters: each under the 64 KiB property limit, 1.04 MiB together.
    big = {f"s{i}": "x" * 32_000 for i in range(17)}
    with pytest.raises(HttpResponseError) as info:
        table.create_entity({"PartitionKey": "p", "RowKey": "big", **big})
    assert info.value.status_code == 413
    assert "EntityTooLarge" in str(info.value)
    table.create_entity({"PartitionKey": "p", "RowKey": "fits", **{f"s{i}": "x" * 32_000 for i in range(16)}})
    assert len(table.get_entity("p", "fits")) == 18


def test_property_limits(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "max", **{f"p{i}": i for i in range(252)}})
    assert len(table.get_entity("p", "max")) == 254
    for entity, code in (
        ({f"p{i}": i for i in range(253)}, "TooManyProperties"),
        ({"s": "x" * 32_769}, "PropertyValueTooLarge"),
        ({"x" * 256: 1}, "PropertyNameTooLong"),
        ({"bad-name": 1}, "PropertyNameInvalid"),
    ):
        with pytest.raises(HttpResponseError) as info:
            table.create_entity({"PartitionKey": "p", "RowKey": "over", **entity})
        assert info.value.status_code == 400
        assert code in str(info.value)


def test_missing_keys_are_400_properties_need_value(table: TableClient) -> None:
    seen, hook = _recorder()
    with pytest.raises(ValueError, match="RowKey"):
        table.create_entity({"PartitionKey": "p"}, **hook)
    assert seen[-1].status_code == 400
    assert seen[-1].headers["x-ms-error-code"] == "PropertiesNeedValue"
