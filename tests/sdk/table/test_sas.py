"""Shared access signatures on tables: key ranges, permissions, stored policies, account SAS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.data.tables import (
    AccountSasPermissions,
    ResourceTypes,
    TableAccessPolicy,
    TableClient,
    TableSasPermissions,
    TableServiceClient,
    TableTransactionError,
    generate_account_sas,
    generate_table_sas,
)

from tests.support import WELL_KNOWN_KEY

CREDENTIAL = AzureNamedKeyCredential("devstoreaccount1", WELL_KNOWN_KEY)
EXPIRY = datetime.now(UTC) + timedelta(hours=1)


def _sas_client(table: TableClient, name: str | None = None, **sas: object) -> TableClient:
    token = generate_table_sas(CREDENTIAL, table.table_name, expiry=EXPIRY, **sas)  # type: ignore[arg-type]
    account_url = f"{table.scheme}://{table._primary_hostname}"
    return TableClient(account_url, name or table.table_name, credential=AzureSasCredential(token))


@pytest.fixture
def filled(table: TableClient) -> TableClient:
    for pk in ("a", "b"):
        for rk in ("1", "3", "5"):
            table.create_entity({"PartitionKey": pk, "RowKey": rk})
    return table


def test_partition_range_limits_reads(filled: TableClient) -> None:
    client = _sas_client(filled, permission=TableSasPermissions(read=True), start_pk="a", end_pk="a")
    assert client.get_entity("a", "3")["RowKey"] == "3"
    with pytest.raises(HttpResponseError) as info:
        client.get_entity("b", "3")
    assert info.value.status_code == 403
    # A query only ever sees the SAS's range.
    assert [(e["PartitionKey"], e["RowKey"]) for e in client.list_entities()] == [("a", "1"), ("a", "3"), ("a", "5")]
    assert list(client.query_entities("PartitionKey eq 'b'")) == []


def test_row_key_range(filled: TableClient) -> None:
    client = _sas_client(
        filled, permission=TableSasPermissions(read=True), start_pk="a", start_rk="2", end_pk="a", end_rk="4"
    )
    assert client.get_entity("a", "3")["RowKey"] == "3"
    for row in ("1", "5"):
        with pytest.raises(HttpResponseError) as info:
            client.get_entity("a", row)
        assert info.value.status_code == 403
    assert [e["RowKey"] for e in client.list_entities()] == ["3"]


def test_writes_need_their_permission_and_the_range(filled: TableClient) -> None:
    reader = _sas_client(filled, permission=TableSasPermissions(read=True))
    with pytest.raises(HttpResponseError) as info:
        reader.create_entity({"PartitionKey": "a", "RowKey": "9"})
    assert info.value.status_code == 403
    writer = _sas_client(filled, permission=TableSasPermissions(add=True, update=True), start_pk="a", end_pk="a")
    writer.upsert_entity({"PartitionKey": "a", "RowKey": "9", "v": 1})
    with pytest.raises(HttpResponseError) as info:
        writer.upsert_entity({"PartitionKey": "b", "RowKey": "9"})
    assert info.value.status_code == 403
    with pytest.raises(TableTransactionError) as batch_info:
        writer.submit_transaction([("upsert", {"PartitionKey": "b", "RowKey": "9"})])
    assert batch_info.value.status_code == 403
    writer.submit_transaction([("upsert", {"PartitionKey": "a", "RowKey": "10"})])
    assert {e["RowKey"] for e in filled.query_entities("PartitionKey eq 'a'")} == {"1", "3", "5", "9", "10"}


def test_a_sas_for_one_table_does_not_open_another(filled: TableClient, service: TableServiceClient) -> None:
    other = service.create_table(filled.table_name + "x")
    try:
        client = _sas_client(filled, name=other.table_name, permission=TableSasPermissions(read=True))
        with pytest.raises(ClientAuthenticationError):
            client.get_entity("a", "1")
    finally:
        service.delete_table(other.table_name)


def test_stored_access_policy(filled: TableClient) -> None:
    filled.set_table_access_policy({"readers": TableAccessPolicy(permission="r", expiry=EXPIRY)})
    token = generate_table_sas(CREDENTIAL, filled.table_name, policy_id="readers")
    client = TableClient(f"{filled.scheme}://{filled._primary_hostname}", filled.table_name,
                         credential=AzureSasCredential(token))  # fmt: skip
    assert client.get_entity("b", "5")["RowKey"] == "5"
    with pytest.raises(HttpResponseError) as info:
        client.create_entity({"PartitionKey": "a", "RowKey": "x"})
    assert info.value.status_code == 403


def test_account_sas(filled: TableClient) -> None:
    account_url = f"{filled.scheme}://{filled._primary_hostname}"
    token = generate_account_sas(
        CREDENTIAL,
        resource_types=ResourceTypes(service=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=EXPIRY,
    )
    service = TableServiceClient(account_url, credential=AzureSasCredential(token))
    assert filled.table_name in {t.name for t in service.list_tables()}
    assert len(list(service.get_table_client(filled.table_name).list_entities())) == 6
    with pytest.raises(HttpResponseError) as info:
        service.create_table("sasmaynotcreate")
    assert info.value.status_code == 403
