"""Block blobs through the real SDK: content, ranges, properties, checks, conditions, listing."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobServiceClient, BlockState, ContainerClient, ContentSettings

from adapters.blob.crc64 import crc64, crc64_bytes
from controlplane.testing.server import LocalZureThread


def test_put_get_round_trip_with_properties(container: ContainerClient) -> None:
    settings = ContentSettings(
        content_type="text/plain",
        content_encoding="identity",
        content_language="en",
        content_disposition="attachment; filename=a.txt",
        cache_control="no-cache",
    )
    result = container.get_blob_client("a.txt").upload_blob(b"hello", metadata={"one": "1"}, content_settings=settings)
    assert result["etag"] and result["last_modified"]
    props = container.get_blob_client("a.txt").get_blob_properties()
    assert props.size == 5
    assert props.blob_type == "BlockBlob"
    assert props.metadata == {"one": "1"}
    assert props.content_settings.content_type == "text/plain"
    assert props.content_settings.content_encoding == "identity"
    assert props.content_settings.content_language == "en"
    assert props.content_settings.content_disposition == "attachment; filename=a.txt"
    assert props.content_settings.cache_control == "no-cache"
    assert props.content_settings.content_md5 == hashlib.md5(b"hello").digest()
    assert container.download_blob("a.txt").readall() == b"hello"


def test_overwrite_and_exists(container: ContainerClient) -> None:
    container.upload_blob("b", b"one")
    with pytest.raises(HttpResponseError) as info:
        container.upload_blob("b", b"two")  # overwrite=False sends If-None-Match: *
    assert info.value.status_code == 409 and info.value.error_code == "BlobAlreadyExists"
    container.upload_blob("b", b"two", overwrite=True)
    assert container.download_blob("b").readall() == b"two"


def test_empty_blob_and_awkward_names(container: ContainerClient) -> None:
    container.upload_blob("empty", b"")
    assert container.download_blob("empty").readall() == b""
    assert container.get_blob_client("empty").get_blob_properties().size == 0
    name = "dir/ünïcode name #1?&=+.txt"
    container.upload_blob(name, b"odd", metadata={"k": "v"})
    assert container.download_blob(name).readall() == b"odd"
    assert [b.name for b in container.list_blobs()] == ["dir/ünïcode name #1?&=+.txt", "empty"]


def test_file_backed_blob_round_trip(container: ContainerClient) -> None:
    data = os.urandom(300_000)
    container.upload_blob("file", data)
    assert container.download_blob("file").readall() == data
    assert container.download_blob("file", offset=1000, length=5000).readall() == data[1000:6000]


def test_ranges(container: ContainerClient) -> None:
    data = bytes(range(256)) * 40
    client = container.upload_blob("r", data)
    assert client.download_blob(offset=10, length=20).readall() == data[10:30]
    assert client.download_blob(offset=len(data) - 5).readall() == data[-5:]
    statuses: list[int] = []
    client.download_blob(
        offset=0, length=4, raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    ).readall()
    assert statuses[0] == 206


def test_range_beyond_size_is_416(container: ContainerClient) -> None:
    client = container.upload_blob("small", b"0123456789")
    with pytest.raises(HttpResponseError) as info:
        client.download_blob(offset=100, length=10).readall()
    assert info.value.status_code == 416
    assert info.value.error_code == "InvalidRange"


def test_missing_blob_is_404(container: ContainerClient) -> None:
    client = container.get_blob_client("ghost")
    for call in (client.download_blob, client.get_blob_properties, client.delete_blob):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.error_code == "BlobNotFound"


def test_md5_mismatch_is_400(container: ContainerClient) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(HttpResponseError) as info:
        container.upload_blob("m", b"payload", headers={"Content-MD5": wrong})
    assert info.value.status_code == 400 and info.value.error_code == "Md5Mismatch"
    container.upload_blob("m", b"payload", validate_content=True)
    assert container.download_blob("m", validate_content=True).readall() == b"payload"


def test_crc64_checked(container: ContainerClient) -> None:
    good = base64.b64encode(crc64_bytes(crc64(b"crc body"))).decode()
    container.upload_blob("c", b"crc body", headers={"x-ms-content-crc64": good})
    bad = base64.b64encode(crc64_bytes(crc64(b"something else"))).decode()
    with pytest.raises(HttpResponseError) as info:
        container.upload_blob("c", b"crc body", overwrite=True, headers={"x-ms-content-crc64": bad})
    assert info.value.error_code == "Crc64Mismatch"


def test_set_properties_and_metadata(container: ContainerClient) -> None:
    client = container.upload_blob("p", b"x")
    etag = client.get_blob_properties().etag
    client.set_http_headers(ContentSettings(content_type="application/json", cache_control="max-age=5"))
    client.set_blob_metadata({"a": "b"})
    props = client.get_blob_properties()
    assert props.content_settings.content_type == "application/json"
    assert props.content_settings.cache_control == "max-age=5"
    assert props.metadata == {"a": "b"}
    assert props.etag != etag


def test_conditional_headers(container: ContainerClient) -> None:
    client = container.upload_blob("cond", b"v1")
    etag = client.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError) as info:
        client.upload_blob(b"v2", overwrite=True, etag='"0x0"', match_condition=MatchConditions.IfNotModified)
    assert info.value.status_code == 412 and info.value.error_code == "ConditionNotMet"
    client.upload_blob(b"v2", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
    new_etag = client.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError):
        client.set_blob_metadata({"a": "b"}, etag=etag, match_condition=MatchConditions.IfNotModified)
    future = datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(ResourceModifiedError):
        client.delete_blob(if_unmodified_since=past)
    statuses: list[int] = []
    hook = {"raw_response_hook": lambda r: statuses.append(r.http_response.status_code)}
    with pytest.raises(HttpResponseError):
        client.download_blob(etag=new_etag, match_condition=MatchConditions.IfModified, **hook).readall()
    assert statuses[-1] == 304
    with pytest.raises(HttpResponseError):
        client.get_blob_properties(if_modified_since=future, **hook)
    assert statuses[-1] == 304
    assert client.download_blob(if_modified_since=past).readall() == b"v2"
    client.delete_blob(etag=new_etag, match_condition=MatchConditions.IfNotModified)


def test_block_list_committed_uncommitted_latest(container: ContainerClient) -> None:
    client = container.get_blob_client("blocks")
    client.stage_block("AAAA", b"aa")
    client.stage_block("BBBB", b"bbb")
    committed, uncommitted = client.get_block_list("all")
    assert committed == [] and sorted((b.id, b.size) for b in uncommitted) == [("AAAA", 2), ("BBBB", 3)]
    client.commit_block_list([BlobBlock("AAAA"), BlobBlock("BBBB")])
    assert client.download_blob().readall() == b"aabbb"
    client.stage_block("CCCC", b"c")
    client.commit_block_list(
        [
            BlobBlock("BBBB", state=BlockState.COMMITTED),
            BlobBlock("CCCC", state=BlockState.UNCOMMITTED),
            BlobBlock("AAAA", state=BlockState.LATEST),
        ]
    )
    assert client.download_blob().readall() == b"bbbcaa"
    committed, uncommitted = client.get_block_list("all")
    assert [b.id for b in committed] == ["BBBB", "CCCC", "AAAA"] and uncommitted == []


def test_block_list_naming_unknown_block_is_400(container: ContainerClient) -> None:
    client = container.get_blob_client("bad-list")
    client.stage_block("AAAA", b"aa")
    with pytest.raises(HttpResponseError) as info:
        client.commit_block_list([BlobBlock("AAAA"), BlobBlock("ZZZZ")])
    assert info.value.status_code == 400 and info.value.error_code == "InvalidBlockList"
    with pytest.raises(ResourceNotFoundError):
        client.get_blob_properties()


def test_chunked_upload_of_large_file(localzure: LocalZureThread, container: ContainerClient) -> None:
    service = BlobServiceClient.from_connection_string(
        localzure.connection_string("blob"), max_single_put_size=4 * 1024 * 1024, max_block_size=4 * 1024 * 1024
    )
    client = service.get_blob_client(container.container_name, "large.bin")
    data = os.urandom(11 * 1024 * 1024 + 123)
    calls: list[str] = []
    client.upload_blob(data, max_concurrency=4, raw_request_hook=lambda r: calls.append(r.http_request.url))
    assert any("comp=blocklist" in url for url in calls)
    assert client.get_blob_properties().size == len(data)
    assert client.download_blob(max_concurrency=4).readall() == data
    committed, _ = client.get_block_list()
    assert len(committed) == 3


def test_list_flat_hierarchical_and_paging(container: ContainerClient) -> None:
    names = ["a.txt", "dir/x.txt", "dir/y.txt", "dir/sub/z.txt", "e.txt", "photos/2024/1.jpg"]
    for name in names:
        container.upload_blob(name, b"0", metadata={"n": name.replace("/", "_").replace(".", "_")})
    assert [b.name for b in container.list_blobs()] == sorted(names)
    assert [b.name for b in container.list_blobs(name_starts_with="dir/")] == [
        "dir/sub/z.txt",
        "dir/x.txt",
        "dir/y.txt",
    ]
    top = sorted(b.name for b in container.walk_blobs())
    assert top == ["a.txt", "dir/", "e.txt", "photos/"]
    inner = sorted(b.name for b in container.walk_blobs(name_starts_with="dir/"))
    assert inner == ["dir/sub/", "dir/x.txt", "dir/y.txt"]
    pages = [[b.name for b in page] for page in container.list_blobs(results_per_page=4).by_page()]
    assert pages == [sorted(names)[:4], sorted(names)[4:]]
    with_meta = {b.name: b.metadata for b in container.list_blobs(include=["metadata"])}
    assert with_meta["a.txt"] == {"n": "a_txt"}
    pages = [[b.name for b in page] for page in container.walk_blobs(results_per_page=2).by_page()]
    assert [sorted(page) for page in pages] == [["a.txt", "dir/"], ["e.txt", "photos/"]]


def test_delete_blob(container: ContainerClient) -> None:
    client = container.upload_blob("gone", b"x")
    client.delete_blob()
    assert list(container.list_blobs()) == []
    with pytest.raises(ResourceNotFoundError):
        client.download_blob()


async def test_async_client_round_trip(localzure: LocalZureThread, container_name: str) -> None:
    from azure.storage.blob.aio import BlobServiceClient as AsyncService

    async with AsyncService.from_connection_string(localzure.connection_string("blob")) as service:
        container = await service.create_container(container_name)
        await container.upload_blob("async.txt", b"async body")
        stream = await container.download_blob("async.txt")
        assert await stream.readall() == b"async body"
        assert [b.name async for b in container.list_blobs()] == ["async.txt"]
        await container.delete_container()


def test_blob_name_too_long_is_400(container: ContainerClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        container.upload_blob("n" * 1025, b"x")
    assert info.value.status_code == 400 and info.value.error_code == "OutOfRangeInput"
    container.upload_blob("n" * 1024, b"x")
