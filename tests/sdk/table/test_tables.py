"""Tables: create, delete, query with filters and continuation, naming rules, ACL and service
properties, through the real azure-data-tables SDK."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import (
    TableAccessPolicy,
    TableAnalyticsLogging,
    TableClient,
    TableMetrics,
    TableRetentionPolicy,
    TableServiceClient,
)

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY


def _recorder() -> tuple[list[tuple[int, str | None]], dict]:
    seen: list[tuple[int, str | None]] = []

    def hook(response) -> None:  # type: ignore[no-untyped-def]
        http = response.http_response
        seen.append((http.status_code, http.headers.get("x-ms-error-code")))

    return seen, {"raw_response_hook": hook}


def test_create_is_201_and_listed(service: TableServiceClient, table_name: str) -> None:
    seen, hook = _recorder()
    service.create_table(table_name, **hook)
    try:
        assert seen == [(201, None)]
        assert table_name in {t.name for t in service.list_tables()}
    finally:
        service.delete_table(table_name)


def test_create_existing_is_409_table_already_exists_case_insensitively(
    service: TableServiceClient, table: TableClient
) -> None:
    with pytest.raises(ResourceExistsError) as info:
        service.create_table(table.table_name.upper())
    assert info.value.status_code == 409
    assert info.value.error_code == "TableAlreadyExists"
    # create_table_if_not_exists turns the 409 into the existing table.
    assert service.create_table_if_not_exists(table.table_name).table_name == table.table_name


def test_delete_then_entity_operations_are_404_table_not_found(service: TableServiceClient, table_name: str) -> None:
    client = service.create_table(table_name)
    seen, hook = _recorder()
    service.delete_table(table_name, **hook)
    assert seen == [(204, None)]
    with pytest.raises(ResourceNotFoundError) as info:
        client.create_entity({"PartitionKey": "a", "RowKey": "b"})
    assert info.value.status_code == 404
    assert "TableNotFound" in str(info.value)
    seen.clear()
    service.delete_table(table_name, **hook)  # the SDK swallows the 404 of a missing table
    assert seen == [(404, "ResourceNotFound")]


@pytest.mark.parametrize(
    ("name", "code"),
    [("1abc", "InvalidResourceName"), ("ab", "OutOfRangeInput"), ("a" * 64, "OutOfRangeInput"),
     ("abc-def", "InvalidResourceName"), ("tables", "InvalidResourceName"), ("abc_def", "InvalidResourceName")],
)  # fmt: skip
def test_naming_rules(service: TableServiceClient, name: str, code: str) -> None:
    seen, hook = _recorder()
    # The SDK re-raises these two Azure errors as a ValueError with the naming rules.
    with pytest.raises((ValueError, HttpResponseError)):
        service.create_table(name, **hook)
    assert seen == [(400, code)]


def test_query_tables_filter_top_and_continuation(service: TableServiceClient) -> None:
    prefix = f"q{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}n{i}" for i in range(5)]
    for name in names:
        service.create_table(name)
    try:
        exact = [t.name for t in service.query_tables(f"TableName eq '{names[2]}'")]
        assert exact == [names[2]]
        left = [t.name for t in service.query_tables(f"'{names[3]}' eq TableName")]
        assert left == [names[3]]
        ranged = service.query_tables(
            "TableName ge @low and TableName lt @high",
            parameters={"low": prefix, "high": prefix + "o"},
            results_per_page=2,
        )
        pages = [[t.name for t in page] for page in ranged.by_page()]
        assert pages == [names[0:2], names[2:4], names[4:5]]
    finally:
        for name in names:
            service.delete_table(name)


def test_table_access_policy_round_trip(table: TableClient) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    policies = {
        "read": TableAccessPolicy(start=start, expiry=start + timedelta(days=1), permission="r"),
        "all": TableAccessPolicy(expiry=start + timedelta(days=2), permission="raud"),
    }
    table.set_table_access_policy(policies)
    got = table.get_table_access_policy()
    assert set(got) == {"read", "all"}
    assert got["read"].permission == "r"
    assert got["all"].permission == "raud"
    assert got["read"].start == start
    table.set_table_access_policy({})
    assert table.get_table_access_policy() == {}


def test_more_than_five_policies_are_refused(table: TableClient) -> None:
    policies = {f"p{i}": TableAccessPolicy(permission="r", expiry=datetime(2030, 1, 1, tzinfo=UTC)) for i in range(6)}
    with pytest.raises(ValueError, match="access policies"):
        table.set_table_access_policy(policies)


def test_service_properties_round_trip(localzure: LocalZureThread) -> None:
    # Its own account would be cleaner, but the service properties are per account: restore them.
    service = TableServiceClient.from_connection_string(localzure.connection_string("table"))
    before = service.get_service_properties()
    assert before["analytics_logging"].read is False
    try:
        service.set_service_properties(
            analytics_logging=TableAnalyticsLogging(read=True, write=True, delete=False,
                                                    retention_policy=TableRetentionPolicy(enabled=True, days=3)),
            hour_metrics=TableMetrics(enabled=True, include_apis=True,
                                      retention_policy=TableRetentionPolicy(enabled=True, days=5)),
        )  # fmt: skip
        after = service.get_service_properties()
        assert after["analytics_logging"].read is True
        assert after["analytics_logging"].retention_policy.days == 3
        assert after["hour_metrics"].enabled is True
        assert after["minute_metrics"].enabled is False
    finally:
        service.set_service_properties(
            analytics_logging=TableAnalyticsLogging(), hour_metrics=TableMetrics(), minute_metrics=TableMetrics()
        )


def test_hostname_style_on_the_edge_port(localzure: LocalZureThread, resolve_localhost: None, table_name: str) -> None:
    endpoint = f"http://devstoreaccount1.table.localhost:{localzure.edge_port}"
    service = TableServiceClient(endpoint, credential=AzureNamedKeyCredential("devstoreaccount1", WELL_KNOWN_KEY))
    table = service.create_table(table_name)
    try:
        table.create_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
        assert table.get_entity("p", "r")["v"] == 1
        assert [e["RowKey"] for e in table.query_entities("v eq 1")] == ["r"]
        table.submit_transaction([("upsert", {"PartitionKey": "p", "RowKey": "s"})])
        assert len(list(table.list_entities())) == 2
    finally:
        service.delete_table(table_name)


def test_create_with_return_no_content_is_204(service: TableServiceClient, table_name: str) -> None:
    seen, hook = _recorder()
    service.create_table(table_name, headers={"Prefer": "return-no-content"}, **hook)
    try:
        assert seen == [(204, None)]
        assert [t.name for t in service.query_tables(f"TableName eq '{table_name}'")] == [table_name]
    finally:
        service.delete_table(table_name)
