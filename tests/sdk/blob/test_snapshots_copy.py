"""Snapshots, copies (Copy Blob, Copy From URL, Put Blob/Block From URL), tiers and tags."""

from __future__ import annotations

import os

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient, StandardBlobTier

from controlplane.testing.server import LocalZureThread


def test_snapshot_read_list_and_delete(container: ContainerClient) -> None:
    blob = container.upload_blob("snap", b"first", metadata={"v": "1"})
    snapshot = blob.create_snapshot()
    blob.upload_blob(b"second", overwrite=True)
    old = container.get_blob_client("snap", snapshot=snapshot["snapshot"])
    assert old.download_blob().readall() == b"first"
    assert old.get_blob_properties().metadata == {"v": "1"}
    assert blob.download_blob().readall() == b"second"
    listed = [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])]
    assert listed == [("snap", snapshot["snapshot"]), ("snap", None)]
    assert [b.name for b in container.list_blobs()] == ["snap"]
    with pytest.raises(ResourceExistsError) as info:
        blob.delete_blob()
    assert info.value.error_code == "SnapshotsPresent"
    blob.delete_blob(delete_snapshots="only")
    assert [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])] == [("snap", None)]
    second = blob.create_snapshot()
    blob.delete_blob(delete_snapshots="include")
    assert list(container.list_blobs(include=["snapshots"])) == []
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("snap", snapshot=second["snapshot"]).download_blob()


def test_delete_one_snapshot(container: ContainerClient) -> None:
    blob = container.upload_blob("one", b"x")
    first = blob.create_snapshot()["snapshot"]
    second = blob.create_snapshot()["snapshot"]
    assert first < second
    container.get_blob_client("one", snapshot=first).delete_blob()
    assert [b.snapshot for b in container.list_blobs(include=["snapshots"])] == [second, None]


def test_large_snapshot_shares_content_until_overwrite(container: ContainerClient) -> None:
    data = os.urandom(200_000)
    blob = container.upload_blob("big", data)
    snapshot = blob.create_snapshot()["snapshot"]
    blob.upload_blob(os.urandom(100), overwrite=True)
    assert container.get_blob_client("big", snapshot=snapshot).download_blob().readall() == data


def test_copy_blob_async_api_and_status(container: ContainerClient) -> None:
    source = container.upload_blob("source", os.urandom(50_000), metadata={"from": "source"})
    target = container.get_blob_client("target")
    copy = target.start_copy_from_url(source.url)
    assert copy["copy_status"] == "success"
    props = target.get_blob_properties()
    assert props.copy.status == "success" and props.copy.id == copy["copy_id"]
    assert props.copy.progress == "50000/50000"
    assert props.metadata == {"from": "source"}
    assert target.download_blob().readall() == source.download_blob().readall()
    with pytest.raises(HttpResponseError) as info:
        target.abort_copy(copy["copy_id"])
    assert info.value.status_code == 409 and info.value.error_code == "NoPendingCopyOperation"


def test_sync_copy_from_url_and_put_blob_from_url(container: ContainerClient) -> None:
    source = container.upload_blob("s", b"sync copy source")
    target = container.get_blob_client("t")
    result = target.start_copy_from_url(source.url, requires_sync=True)
    assert result["copy_status"] == "success"
    assert target.download_blob().readall() == b"sync copy source"
    other = container.get_blob_client("u")
    other.upload_blob_from_url(source.url)
    assert other.download_blob().readall() == b"sync copy source"


def test_copy_of_missing_source_is_404(container: ContainerClient) -> None:
    target = container.get_blob_client("target")
    with pytest.raises(ResourceNotFoundError) as info:
        target.start_copy_from_url(container.get_blob_client("nothing").url)
    assert info.value.error_code == "CannotVerifyCopySource"


def test_copy_from_snapshot(container: ContainerClient) -> None:
    source = container.upload_blob("src", b"old")
    snapshot = source.create_snapshot()["snapshot"]
    source.upload_blob(b"new", overwrite=True)
    target = container.get_blob_client("dst")
    target.start_copy_from_url(f"{source.url}?snapshot={snapshot}")
    assert target.download_blob().readall() == b"old"


def test_put_block_from_url(container: ContainerClient) -> None:
    source = container.upload_blob("src", b"0123456789abcdef")
    target = container.get_blob_client("assembled")
    target.stage_block_from_url("AAAA", source.url, source_offset=10, source_length=6)
    target.stage_block_from_url("BBBB", source.url, source_offset=0, source_length=10)
    target.commit_block_list([BlobBlock("AAAA"), BlobBlock("BBBB")])
    assert target.download_blob().readall() == b"abcdef0123456789"


def test_set_tier(container: ContainerClient) -> None:
    blob = container.upload_blob("tiered", b"x")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Hot" and props.blob_tier_inferred
    blob.set_standard_blob_tier(StandardBlobTier.COOL)
    props = blob.get_blob_properties()
    assert props.blob_tier == "Cool" and not props.blob_tier_inferred
    assert [b.blob_tier for b in container.list_blobs()] == ["Cool"]
    with pytest.raises(HttpResponseError) as info:
        blob.set_standard_blob_tier("Lukewarm")
    assert info.value.status_code == 400
    container.upload_blob("born-cold", b"x", standard_blob_tier=StandardBlobTier.COLD)
    assert container.get_blob_client("born-cold").get_blob_properties().blob_tier == "Cold"


def test_tags_and_find_by_tags(service: BlobServiceClient, container: ContainerClient) -> None:
    blob = container.upload_blob("tagged", b"x", tags={"project": "alpha", "stage": "2"})
    assert blob.get_blob_tags() == {"project": "alpha", "stage": "2"}
    blob.set_blob_tags({"project": "beta", "stage": "3"})
    assert blob.get_blob_tags() == {"project": "beta", "stage": "3"}
    container.upload_blob("other", b"y", tags={"project": "beta", "stage": "1"})
    container.upload_blob("plain", b"z")
    found = sorted(b.name for b in container.find_blobs_by_tags("\"project\"='beta'"))
    assert found == ["other", "tagged"]
    found = [b.name for b in container.find_blobs_by_tags("\"project\"='beta' AND \"stage\">'2'")]
    assert found == ["tagged"]
    query = f"@container='{container.container_name}' AND \"project\"='beta' AND \"stage\"<='1'"
    assert [(b.name, b.container_name) for b in service.find_blobs_by_tags(query)] == [
        ("other", container.container_name)
    ]
    assert [b.tags for b in container.list_blobs(include=["tags"]) if b.name == "tagged"] == [
        {"project": "beta", "stage": "3"}
    ]
    assert blob.download_blob(if_tags_match_condition="\"project\"='beta'").readall() == b"x"
    with pytest.raises(HttpResponseError) as info:
        blob.set_blob_metadata({"a": "b"}, if_tags_match_condition="\"project\"='alpha'")
    assert info.value.status_code == 412 and info.value.error_code == "ConditionNotMet"
    with pytest.raises(HttpResponseError) as info:
        blob.set_blob_tags({f"k{i}": "v" for i in range(11)})
    assert info.value.status_code == 400


def test_cors_preflight_from_stored_rules(localzure: LocalZureThread, service: BlobServiceClient) -> None:
    from azure.storage.blob import CorsRule

    original = service.get_service_properties()["cors"]
    url = f"{localzure.url('blob')}/anything/blob.txt"
    ask = {"Origin": "http://app.example", "Access-Control-Request-Method": "PUT",
           "Access-Control-Request-Headers": "x-ms-blob-type"}  # fmt: skip
    try:
        service.set_service_properties(cors=[])
        assert httpx.options(url, headers=ask).status_code == 403
        service.set_service_properties(
            cors=[CorsRule(["http://app.example"], ["PUT", "GET"], allowed_headers=["x-ms-*"], max_age_in_seconds=30)]
        )
        response = httpx.options(url, headers=ask)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://app.example"
        assert "PUT" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-max-age"] == "30"
        denied = httpx.options(url, headers={**ask, "Origin": "http://evil.example"})
        assert denied.status_code == 403
        seen: list[dict[str, str]] = []
        service.get_account_information(
            headers={"Origin": "http://app.example"}, raw_response_hook=lambda r: seen.append(r.http_response.headers)
        )
        assert seen[0]["access-control-allow-origin"] == "http://app.example"
    finally:
        service.set_service_properties(cors=original)
