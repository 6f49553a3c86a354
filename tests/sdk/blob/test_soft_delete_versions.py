"""Soft delete and undelete (blobs and containers), blob versioning and Blob Batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, RetentionPolicy

from controlplane.registry import discover
from controlplane.testing.server import LocalZureThread


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    """A LocalZure of its own: blob only, versioning on, container soft delete kept a day."""
    data_dir: Path = tmp_path_factory.mktemp("versioned")
    services = {name: {"enabled": False} for name in discover() if name != "blob"}
    services["blob"] = {"port": 0, "versioning": True, "container_soft_delete_days": 1}
    server = LocalZureThread(data_dir=data_dir, services=services)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def retention(service: BlobServiceClient) -> Iterator[None]:
    original = service.get_service_properties()["delete_retention_policy"]
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=2))
    yield
    service.set_service_properties(delete_retention_policy=original)


def test_soft_deleted_blob_is_listed_and_undeleted(retention: None, container: ContainerClient) -> None:
    blob = container.upload_blob("precious", b"keep me", metadata={"a": "1"})
    blob.create_snapshot()
    blob.delete_blob(delete_snapshots="include")
    with pytest.raises(ResourceNotFoundError):
        blob.download_blob()
    assert list(container.list_blobs()) == []
    deleted = [(b.name, b.deleted, bool(b.snapshot)) for b in container.list_blobs(include=["deleted", "snapshots"])]
    assert sorted(deleted) == [("precious", True, False), ("precious", True, True)]
    blob.undelete_blob()
    assert blob.download_blob().readall() == b"keep me"
    assert blob.get_blob_properties().metadata == {"a": "1"}
    listed = [(b.name, bool(b.snapshot)) for b in container.list_blobs(include=["snapshots"])]
    assert listed == [("precious", True), ("precious", False)]


def test_without_retention_delete_is_final(container: ContainerClient) -> None:
    blob = container.upload_blob("gone", b"x")
    blob.delete_blob()
    assert list(container.list_blobs(include=["deleted"])) == []
    with pytest.raises(ResourceNotFoundError):
        blob.undelete_blob()


def test_versions_kept_on_overwrite_and_delete(versioned: LocalZureThread) -> None:
    service = BlobServiceClient.from_connection_string(versioned.connection_string("blob"))
    container = service.create_container(f"v-{uuid.uuid4().hex[:10]}")
    blob = container.get_blob_client("doc")
    first = blob.upload_blob(b"one")["version_id"]
    second = blob.upload_blob(b"two", overwrite=True)["version_id"]
    assert first and second and first < second
    assert blob.get_blob_properties().version_id == second
    assert container.get_blob_client("doc", version_id=first).download_blob().readall() == b"one"
    versions = [(b.version_id, b.is_current_version) for b in container.list_blobs(include=["versions"])]
    assert versions == [(first, None), (second, True)]
    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        blob.download_blob()
    versions = [(b.version_id, b.is_current_version) for b in container.list_blobs(include=["versions"])]
    assert versions == [(first, None), (second, None)]
    # Restoring a version: copy it over the base blob.
    blob.start_copy_from_url(f"{blob.url}?versionid={first}")
    assert blob.download_blob().readall() == b"one"
    container.get_blob_client("doc", version_id=second).delete_blob()
    assert [b.version_id for b in container.list_blobs(include=["versions"])][:1] == [first]


def test_container_soft_delete_and_restore(versioned: LocalZureThread) -> None:
    service = BlobServiceClient.from_connection_string(versioned.connection_string("blob"))
    name = f"restore-{uuid.uuid4().hex[:8]}"
    container = service.create_container(name, metadata={"m": "1"})
    container.upload_blob("inside", b"survives")
    container.delete_container()
    with pytest.raises(ResourceNotFoundError):
        container.get_container_properties()
    deleted = [c for c in service.list_containers(name_starts_with=name, include_deleted=True) if c.deleted]
    assert len(deleted) == 1
    restored = service.undelete_container(name, deleted[0].version)
    assert restored.download_blob("inside").readall() == b"survives"
    assert restored.get_container_properties().metadata == {"m": "1"}


def test_batch_delete_and_set_tier(container: ContainerClient) -> None:
    for i in range(5):
        container.upload_blob(f"b{i}", b"x")
    container.set_standard_blob_tier_blobs("Cool", "b0", "b1")
    tiers = {b.name: b.blob_tier for b in container.list_blobs()}
    assert tiers["b0"] == "Cool" and tiers["b1"] == "Cool" and tiers["b2"] == "Hot"
    container.delete_blobs("b0", "b1", "b2")
    assert [b.name for b in container.list_blobs()] == ["b3", "b4"]
    with pytest.raises(HttpResponseError):
        container.delete_blobs("b3", "missing", raise_on_any_failure=True)
    assert [b.name for b in container.list_blobs()] == ["b4"]
