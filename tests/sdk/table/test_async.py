"""The asyncio SDK (azure.data.tables.aio) against the same emulator."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableServiceClient

from controlplane.testing.server import LocalZureThread


async def test_async_entity_cycle(localzure: LocalZureThread, table_name: str) -> None:
    async with TableServiceClient.from_connection_string(localzure.connection_string("table")) as service:
        table = await service.create_table(table_name)
        try:
            created = await table.create_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
            with pytest.raises(ResourceExistsError):
                await table.create_entity({"PartitionKey": "p", "RowKey": "r"})
            await table.update_entity({"PartitionKey": "p", "RowKey": "r", "w": 2}, mode=UpdateMode.MERGE)
            with pytest.raises(ResourceModifiedError):
                await table.delete_entity("p", "r", etag=created["etag"], match_condition=_if_not_modified())
            got = await table.get_entity("p", "r")
            assert dict(got) == {"PartitionKey": "p", "RowKey": "r", "v": 1, "w": 2}
            assert [t.name async for t in service.query_tables(f"TableName eq '{table_name}'")] == [table_name]
        finally:
            await service.delete_table(table_name)


async def test_async_concurrent_writers_and_batches(localzure: LocalZureThread, table_name: str) -> None:
    async with TableServiceClient.from_connection_string(localzure.connection_string("table")) as service:
        table = await service.create_table(table_name)
        try:
            await asyncio.gather(*(table.upsert_entity({"PartitionKey": f"p{i % 4}", "RowKey": f"{i:03d}", "i": i})
                                   for i in range(80)))  # fmt: skip
            await table.submit_transaction([("create", {"PartitionKey": "batch", "RowKey": f"{i}"}) for i in range(50)])
            with pytest.raises(TableTransactionError) as info:
                await table.submit_transaction(
                    [
                        ("create", {"PartitionKey": "batch", "RowKey": "new"}),
                        ("create", {"PartitionKey": "batch", "RowKey": "7"}),
                    ]
                )
            assert info.value.index == 1
            rows = [e async for e in table.query_entities("i ge 40 and PartitionKey eq 'p1'")]
            assert [e["i"] for e in rows] == list(range(41, 80, 4))
            assert len([e async for e in table.query_entities("PartitionKey eq 'batch'")]) == 50
        finally:
            await service.delete_table(table_name)


def _if_not_modified():  # type: ignore[no-untyped-def]
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified
