"""Service properties, service stats and queue ACLs through the real SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.storage.queue import (
    AccessPolicy,
    CorsRule,
    Metrics,
    QueueAnalyticsLogging,
    QueueClient,
    QueueSasPermissions,
    QueueServiceClient,
    RetentionPolicy,
)

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY


def test_service_properties_round_trip_and_partial_update(service: QueueServiceClient) -> None:
    logging = QueueAnalyticsLogging(
        version="1.0", delete=True, read=False, write=True, retention_policy=RetentionPolicy(enabled=True, days=7)
    )
    hour = Metrics(
        version="1.0", enabled=True, include_apis=True, retention_policy=RetentionPolicy(enabled=True, days=5)
    )
    minute = Metrics(version="1.0", enabled=False, retention_policy=RetentionPolicy(enabled=False))
    cors = [
        CorsRule(
            ["https://a.example", "https://b.example"],
            ["GET", "PUT"],
            max_age_in_seconds=500,
            exposed_headers=["x-ms-meta-*"],
            allowed_headers=["x-ms-meta-data*", "x-ms-meta-target*"],
        ),
        CorsRule(["*"], ["DELETE"]),
    ]
    try:
        service.set_service_properties(analytics_logging=logging, hour_metrics=hour, minute_metrics=minute, cors=cors)
        props = service.get_service_properties()
        assert props["analytics_logging"].delete is True
        assert props["analytics_logging"].read is False
        assert props["analytics_logging"].write is True
        assert props["analytics_logging"].retention_policy.days == 7
        assert props["hour_metrics"].enabled is True
        assert props["hour_metrics"].include_apis is True
        assert props["hour_metrics"].retention_policy.days == 5
        assert props["minute_metrics"].enabled is False
        assert len(props["cors"]) == 2
        first = props["cors"][0]
        assert first.allowed_origins == "https://a.example,https://b.example"
        assert first.allowed_methods == "GET,PUT"
        assert first.max_age_in_seconds == 500
        assert first.exposed_headers == "x-ms-meta-*"
        assert first.allowed_headers == "x-ms-meta-data*,x-ms-meta-target*"
        assert props["cors"][1].allowed_methods == "DELETE"

        # Sections left out keep their values.
        service.set_service_properties(
            minute_metrics=Metrics(
                enabled=True, include_apis=False, retention_policy=RetentionPolicy(enabled=True, days=1)
            )
        )
        props = service.get_service_properties()
        assert props["minute_metrics"].enabled is True
        assert props["minute_metrics"].include_apis is False
        assert props["hour_metrics"].retention_policy.days == 5
        assert props["analytics_logging"].delete is True
        assert len(props["cors"]) == 2

        service.set_service_properties(cors=[])
        assert service.get_service_properties()["cors"] == []
    finally:
        service.set_service_properties(
            analytics_logging=QueueAnalyticsLogging(),
            hour_metrics=Metrics(),
            minute_metrics=Metrics(),
            cors=[],
        )


def test_set_service_properties_is_202_and_validates(service: QueueServiceClient) -> None:
    statuses: list[int] = []
    service.set_service_properties(cors=[], raw_response_hook=lambda r: statuses.append(r.http_response.status_code))
    assert statuses == [202]
    with pytest.raises(HttpResponseError) as info:
        service.set_service_properties(
            hour_metrics=Metrics(
                enabled=True, include_apis=True, retention_policy=RetentionPolicy(enabled=True, days=366)
            )
        )
    assert info.value.status_code == 400
    assert info.value.error_code == "InvalidXmlNodeValue"
    body = b"<StorageServiceProperties><Logging>"
    request = HttpRequest("PUT", f"{service.url}?restype=service&comp=properties", content=body)
    response = service._client.send_request(request)
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "InvalidXmlDocument"


def test_service_stats(localzure: LocalZureThread, service: QueueServiceClient) -> None:
    # Stats are served by the secondary endpoint; point it at the emulator itself.
    client = QueueServiceClient.from_connection_string(
        localzure.connection_string("queue"), secondary_hostname=f"127.0.0.1:{localzure.port('queue')}"
    )
    stats = client.get_service_stats()
    assert stats["geo_replication"]["status"] == "live"
    assert abs(stats["geo_replication"]["last_sync_time"] - datetime.now(UTC)) < timedelta(minutes=1)


def test_acl_round_trip(queue: QueueClient) -> None:
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    expiry = datetime(2031, 6, 7, 8, 9, 10, tzinfo=UTC)
    queue.set_queue_access_policy(
        {
            "readers": AccessPolicy(
                permission=QueueSasPermissions(read=True, process=True), start=start, expiry=expiry
            ),
            "adders": AccessPolicy(permission="a", expiry=expiry),
        }
    )
    acl = queue.get_queue_access_policy()
    assert set(acl) == {"readers", "adders"}
    assert acl["readers"].permission == "rp"
    assert acl["readers"].start == "2024-01-02T03:04:05.0000000Z"
    assert acl["readers"].expiry == "2031-06-07T08:09:10.0000000Z"
    assert acl["adders"].permission == "a"
    assert acl["adders"].start is None

    queue.set_queue_access_policy({})
    assert queue.get_queue_access_policy() == {}


def test_acl_allows_at_most_five_identifiers(queue: QueueClient) -> None:
    policy = AccessPolicy(permission="r", expiry=datetime.now(UTC) + timedelta(days=1))
    queue.set_queue_access_policy({f"id{i}": policy for i in range(5)})
    assert len(queue.get_queue_access_policy()) == 5
    with pytest.raises(HttpResponseError) as info:
        queue.set_queue_access_policy({f"id{i}": policy for i in range(6)})
    assert info.value.status_code == 400
    assert info.value.error_code == "InvalidXmlDocument"
    assert len(queue.get_queue_access_policy()) == 5


def test_acl_rejects_bad_permission(queue: QueueClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        queue.set_queue_access_policy({"bad": AccessPolicy(permission="rwx", expiry=datetime.now(UTC))})
    assert info.value.status_code == 400
    assert queue.get_queue_access_policy() == {}


@pytest.mark.usefixtures("resolve_localhost")
def test_service_stats_on_the_secondary_hostname(localzure: LocalZureThread) -> None:
    # Stats go to the <account>-secondary host; the gateway serves it as the account itself.
    client = QueueServiceClient(
        f"http://devstoreaccount1.queue.localhost:{localzure.edge_port}",
        credential={"account_name": "devstoreaccount1", "account_key": WELL_KNOWN_KEY},
        secondary_hostname=f"devstoreaccount1-secondary.queue.localhost:{localzure.edge_port}",
    )
    assert client.get_service_stats()["geo_replication"]["status"] == "live"
