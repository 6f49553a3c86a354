"""Entity queries through the SDK: $filter with typed parameters, $select, $top and continuation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import EdmType, EntityProperty, TableClient

BASE = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def people(table: TableClient) -> TableClient:
    for i in range(30):
        table.create_entity(
            {
                "PartitionKey": f"p{i % 3}",
                "RowKey": f"{i:03d}",
                "n": i,
                "big": EntityProperty(i * 10**10, EdmType.INT64),
                "half": i / 2,
                "when": BASE + timedelta(days=i),
                "id": uuid.UUID(int=i),
                "even": i % 2 == 0,
                "name": f"name-{i:03d}",
            }
        )
    return table


def _rows(entities) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["RowKey"] for e in entities]


def test_filters_with_typed_parameters(people: TableClient) -> None:
    q = people.query_entities
    assert sorted(_rows(q("n ge @low and n lt @high", parameters={"low": 10, "high": 13}))) == ["010", "011", "012"]
    assert sorted(_rows(q("big eq @v", parameters={"v": 7 * 10**10}))) == ["007"]
    assert sorted(_rows(q("when gt @t", parameters={"t": BASE + timedelta(days=27)}))) == ["028", "029"]
    assert sorted(_rows(q("id eq @g", parameters={"g": uuid.UUID(int=4)}))) == ["004"]
    assert sorted(_rows(q("half eq 2.5"))) == ["005"]
    assert sorted(_rows(q("PartitionKey eq 'p1' and even eq true and n lt 12"))) == ["004", "010"]
    assert sorted(_rows(q("name eq 'name-021' or 'name-002' eq name"))) == ["002", "021"]


def test_point_query_through_filter_and_empty_filter(people: TableClient) -> None:
    assert _rows(people.query_entities("PartitionKey eq 'p2' and RowKey eq '005'")) == ["005"]
    assert len(list(people.query_entities(""))) == 30


def test_partition_scan_is_in_key_order(people: TableClient) -> None:
    assert _rows(people.query_entities("PartitionKey eq 'p0'")) == [f"{i:03d}" for i in range(0, 30, 3)]
    # Without a filter the order is PartitionKey then RowKey.
    expected = [f"{i:03d}" for p in range(3) for i in range(p, 30, 3)]
    assert _rows(people.list_entities()) == expected


def test_select_returns_only_those_properties(people: TableClient) -> None:
    got = list(people.query_entities("n eq 3", select=["n", "name"]))
    assert [dict(e) for e in got] == [{"n": 3, "name": "name-003"}]
    assert got[0].metadata["etag"]
    point = people.get_entity("p0", "003", select=["big"])
    assert dict(point) == {"big": EntityProperty(3 * 10**10, EdmType.INT64)}


def test_top_and_continuation_pages(people: TableClient) -> None:
    pages = [_rows(page) for page in people.query_entities("even eq true", results_per_page=4).by_page()]
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert sorted(sum(pages, [])) == [f"{i:03d}" for i in range(0, 30, 2)]
    listed = [_rows(page) for page in people.list_entities(results_per_page=7).by_page()]
    assert [len(p) for p in listed] == [7, 7, 7, 7, 2]


def test_more_than_a_thousand_entities_page_at_a_thousand(table: TableClient) -> None:
    for start in range(0, 1100, 100):
        batch = [("create", {"PartitionKey": "p", "RowKey": f"{i:05d}"}) for i in range(start, start + 100)]
        table.submit_transaction(batch)
    pages = [len(list(page)) for page in table.list_entities().by_page()]
    assert pages == [1000, 100]


@pytest.mark.parametrize("bad", ["n eq", "n eq 1 1", "n like 1", "(n eq 1", "id eq guid'nope'"])
def test_malformed_filter_is_400(people: TableClient, bad: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        list(people.query_entities(bad))
    assert info.value.status_code == 400
    assert info.value.error_code == "InvalidInput"


def test_top_out_of_range_is_400(people: TableClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        list(people.list_entities(results_per_page=1001))
    assert info.value.status_code == 400
