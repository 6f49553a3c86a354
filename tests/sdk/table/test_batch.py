"""Entity group transactions through the SDK: atomic, one partition, at most 100 operations,
and a failure names the index of the operation that caused it."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core import MatchConditions
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode
from azure.data.tables._table_batch import TableBatchOperations

STALE = {"etag": "W/\"datetime'2000-01-01T00%3A00%3A00.0000000Z'\"", "match_condition": MatchConditions.IfNotModified}


def _raw_batch(table: TableClient, operations: list[tuple]) -> list[Any]:
    """Send operations as one batch without the SDK's client-side same-partition check."""
    batch = TableBatchOperations(
        config=table._client._config,
        endpoint=f"{table.scheme}://{table._primary_hostname}",
        table_name=table.table_name,
    )
    for operation in operations:
        batch._partition_key = None
        batch.add_operation(operation)
    return table._batch_send(table.table_name, *batch.requests)


def _snapshot(table: TableClient) -> dict[tuple[str, str], dict]:
    return {(e["PartitionKey"], e["RowKey"]): dict(e) for e in table.list_entities()}


def test_mixed_batch_applies_everything(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "upd", "v": 1, "keep": 1})
    table.create_entity({"PartitionKey": "p", "RowKey": "gone"})
    etag = table.get_entity("p", "upd").metadata["etag"]
    conditional = {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
    result = table.submit_transaction(
        [
            ("create", {"PartitionKey": "p", "RowKey": "new", "v": 1}),
            ("update", {"PartitionKey": "p", "RowKey": "upd", "v": 2}, conditional),
            ("upsert", {"PartitionKey": "p", "RowKey": "ups", "v": 3}, {"mode": UpdateMode.REPLACE}),
            ("delete", {"PartitionKey": "p", "RowKey": "gone"}),
        ]
    )  # fmt: skip
    assert len(result) == 4
    assert result[0]["etag"] == table.get_entity("p", "new").metadata["etag"]
    assert _snapshot(table) == {
        ("p", "new"): {"PartitionKey": "p", "RowKey": "new", "v": 1},
        ("p", "upd"): {"PartitionKey": "p", "RowKey": "upd", "v": 2, "keep": 1},
        ("p", "ups"): {"PartitionKey": "p", "RowKey": "ups", "v": 3},
    }


def test_a_failed_batch_rolls_back_and_names_the_index(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "exists", "v": 1})
    table.create_entity({"PartitionKey": "p", "RowKey": "other", "v": 1})
    before = _snapshot(table)
    with pytest.raises(TableTransactionError) as info:
        table.submit_transaction(
            [
                ("create", {"PartitionKey": "p", "RowKey": "first", "v": 1}),
                ("upsert", {"PartitionKey": "p", "RowKey": "other", "v": 99}),
                ("create", {"PartitionKey": "p", "RowKey": "second"}),
                ("create", {"PartitionKey": "p", "RowKey": "exists"}),
            ]
        )
    assert info.value.index == 3
    assert info.value.status_code == 409
    assert info.value.error_code == "EntityAlreadyExists"
    assert _snapshot(table) == before


@pytest.mark.parametrize(
    ("operation", "status", "code"),
    [
        (("update", {"PartitionKey": "p", "RowKey": "missing", "v": 1}), 404, "ResourceNotFound"),
        (("delete", {"PartitionKey": "p", "RowKey": "missing"}), 404, "ResourceNotFound"),
        (("update", {"PartitionKey": "p", "RowKey": "exists"}, STALE), 412, "UpdateConditionNotSatisfied"),
        (("create", {"PartitionKey": "p", "RowKey": "bad/key"}), 400, "OutOfRangeInput"),
    ],
)  # fmt: skip
def test_failure_status_code_and_index(table: TableClient, operation: tuple, status: int, code: str) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "exists"})
    before = _snapshot(table)
    with pytest.raises(TableTransactionError) as info:
        table.submit_transaction([("upsert", {"PartitionKey": "p", "RowKey": "a"}), operation])
    assert (info.value.index, info.value.status_code, info.value.error_code) == (1, status, code)
    assert _snapshot(table) == before


def test_batch_across_partitions_is_400_and_applies_nothing(table: TableClient) -> None:
    with pytest.raises(TableTransactionError) as info:
        _raw_batch(
            table, [("upsert", {"PartitionKey": "a", "RowKey": "1"}), ("upsert", {"PartitionKey": "b", "RowKey": "1"})]
        )
    assert info.value.status_code == 400
    assert info.value.index == 1
    assert info.value.error_code == "CommandsInBatchActOnDifferentPartitions"
    assert _snapshot(table) == {}


def test_more_than_100_operations_is_400(table: TableClient) -> None:
    operations = [("upsert", {"PartitionKey": "p", "RowKey": f"{i:03d}"}) for i in range(101)]
    with pytest.raises(TableTransactionError) as info:
        table.submit_transaction(operations)
    assert info.value.status_code == 400
    assert _snapshot(table) == {}
    assert len(table.submit_transaction(operations[:100])) == 100


def test_the_same_row_twice_is_400(table: TableClient) -> None:
    with pytest.raises(TableTransactionError) as info:
        table.submit_transaction(
            [("upsert", {"PartitionKey": "p", "RowKey": "r"}), ("upsert", {"PartitionKey": "p", "RowKey": "r", "v": 1})]
        )
    assert (info.value.status_code, info.value.index, info.value.error_code) == (400, 1, "InvalidDuplicateRow")
    assert _snapshot(table) == {}


def test_empty_batch_is_a_no_op(table: TableClient) -> None:
    assert table.submit_transaction([]) == []


def test_batch_on_a_missing_table_is_404(service: TableServiceClient, table_name: str) -> None:
    client = service.get_table_client(table_name)
    with pytest.raises(TableTransactionError) as info:
        client.submit_transaction([("upsert", {"PartitionKey": "p", "RowKey": "r"})])
    assert (info.value.status_code, info.value.index, info.value.error_code) == (404, 0, "TableNotFound")
