"""Containers through the real azure-storage-blob SDK: lifecycle, metadata, listing, naming rules."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from controlplane.testing.server import LocalZureThread


def test_create_properties_metadata_delete(service: BlobServiceClient, container_name: str) -> None:
    client = service.create_container(container_name, metadata={"owner": "tests"})
    props = client.get_container_properties()
    assert props.name == container_name
    assert props.metadata == {"owner": "tests"}
    assert props.etag and props.last_modified
    assert props.lease.state == "available"
    client.set_container_metadata({"stage": "two"})
    assert client.get_container_properties().metadata == {"stage": "two"}
    client.delete_container()
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_container_properties()
    assert info.value.error_code == "ContainerNotFound"


def test_create_existing_is_409(container: ContainerClient, service: BlobServiceClient) -> None:
    with pytest.raises(ResourceExistsError) as info:
        service.create_container(container.container_name)
    assert info.value.error_code == "ContainerAlreadyExists"


def test_missing_container_is_404(service: BlobServiceClient) -> None:
    client = service.get_container_client(f"nope-{uuid.uuid4().hex[:8]}")
    for call in (client.get_container_properties, client.delete_container, lambda: list(client.list_blobs())):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.error_code == "ContainerNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.upload_blob("x", b"data")


@pytest.mark.parametrize("name", ["UPPER", "a--b", "-abc", "abc-", "ab", "x" * 64, "under_score"])
def test_invalid_names_are_400(service: BlobServiceClient, name: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        service.create_container(name)
    assert info.value.status_code == 400
    assert info.value.error_code in ("InvalidResourceName", "OutOfRangeInput")


def test_list_containers_prefix_paging_and_metadata(service: BlobServiceClient) -> None:
    prefix = f"lc{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        service.create_container(name, metadata={"i": str(i)})
    try:
        listed = list(service.list_containers(name_starts_with=prefix, include_metadata=True))
        assert [c.name for c in listed] == names
        assert [c.metadata for c in listed] == [{"i": str(i)} for i in range(7)]
        pages = service.list_containers(name_starts_with=prefix, results_per_page=3).by_page()
        seen = [[c.name for c in page] for page in pages]
        assert seen == [names[:3], names[3:6], names[6:]]
        bare = next(iter(service.list_containers(name_starts_with=prefix)))
        assert not bare.metadata
    finally:
        for name in names:
            service.delete_container(name)


def test_hostname_style_on_the_edge(localzure: LocalZureThread, resolve_localhost: None) -> None:
    from tests.support import WELL_KNOWN_KEY

    url = f"http://devstoreaccount1.blob.localhost:{localzure.edge_port}"
    service = BlobServiceClient(url, credential={"account_name": "devstoreaccount1", "account_key": WELL_KNOWN_KEY})
    name = f"edge-{uuid.uuid4().hex[:8]}"
    client = service.create_container(name)
    try:
        client.upload_blob("dir/a.txt", b"via the edge")
        assert client.download_blob("dir/a.txt").readall() == b"via the edge"
        assert [b.name for b in client.list_blobs()] == ["dir/a.txt"]
        assert name in [c.name for c in service.list_containers(name_starts_with="edge-")]
    finally:
        client.delete_container()


def test_account_info_and_service_properties(service: BlobServiceClient) -> None:
    from azure.storage.blob import BlobAnalyticsLogging, CorsRule, Metrics, RetentionPolicy, StaticWebsite

    info = service.get_account_information()
    assert info["sku_name"] == "Standard_RAGRS" and info["account_kind"] == "StorageV2"
    original = service.get_service_properties()
    try:
        service.set_service_properties(
            analytics_logging=BlobAnalyticsLogging(read=True, write=True, retention_policy=RetentionPolicy(True, 5)),
            hour_metrics=Metrics(enabled=True, include_apis=True, retention_policy=RetentionPolicy(True, 7)),
            cors=[CorsRule(["http://example.com"], ["GET", "PUT"], allowed_headers=["x-ms-*"], max_age_in_seconds=60)],
            delete_retention_policy=RetentionPolicy(enabled=True, days=3),
            static_website=StaticWebsite(enabled=True, index_document="index.html", error_document404_path="404.html"),
        )
        props = service.get_service_properties()
        logging = props["analytics_logging"]
        assert logging.read and logging.write and not logging.delete and logging.retention_policy.days == 5
        assert props["hour_metrics"].enabled and props["hour_metrics"].include_apis
        assert props["hour_metrics"].retention_policy.days == 7
        assert not props["minute_metrics"].enabled
        assert props["cors"][0].allowed_origins == "http://example.com"
        assert props["cors"][0].allowed_methods == "GET,PUT"
        assert props["cors"][0].max_age_in_seconds == 60
        assert props["delete_retention_policy"].enabled and props["delete_retention_policy"].days == 3
        assert props["static_website"].enabled and props["static_website"].index_document == "index.html"
        assert props["static_website"].error_document404_path == "404.html"
    finally:
        service.set_service_properties(
            analytics_logging=original["analytics_logging"],
            hour_metrics=original["hour_metrics"],
            cors=original["cors"],
            delete_retention_policy=original["delete_retention_policy"],
            static_website=original["static_website"],
        )
