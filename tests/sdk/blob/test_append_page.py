"""Append blobs and page blobs through the real SDK."""

from __future__ import annotations

import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobType, ContainerClient


def test_append_blob_grows_and_reports_offsets(container: ContainerClient) -> None:
    blob = container.get_blob_client("log")
    blob.create_append_blob(metadata={"kind": "log"})
    first = blob.append_block(b"line 1\n")
    second = blob.append_block(b"line 2\n")
    assert first["blob_append_offset"] == "0" and second["blob_append_offset"] == "7"
    assert second["blob_committed_block_count"] == 2
    assert blob.download_blob().readall() == b"line 1\nline 2\n"
    props = blob.get_blob_properties()
    assert props.blob_type == BlobType.APPENDBLOB and props.size == 14 and props.metadata == {"kind": "log"}
    container.upload_blob("log2", b"x" * 5000, blob_type=BlobType.APPENDBLOB)
    assert container.download_blob("log2").readall() == b"x" * 5000


def test_append_conditions(container: ContainerClient) -> None:
    blob = container.get_blob_client("cond")
    blob.create_append_blob()
    blob.append_block(b"12345")
    with pytest.raises(HttpResponseError) as info:
        blob.append_block(b"x", appendpos_condition=0)
    assert info.value.status_code == 412 and info.value.error_code == "AppendPositionConditionNotMet"
    blob.append_block(b"6", appendpos_condition=5)
    with pytest.raises(HttpResponseError) as info:
        blob.append_block(b"789", maxsize_condition=8)
    assert info.value.status_code == 412 and info.value.error_code == "MaxBlobSizeConditionNotMet"
    blob.append_block(b"78", maxsize_condition=8)
    assert blob.download_blob().readall() == b"12345678"


def test_append_to_block_blob_is_409(container: ContainerClient) -> None:
    blob = container.upload_blob("block", b"x")
    with pytest.raises(ResourceExistsError) as info:
        blob.append_block(b"y")
    assert info.value.error_code == "InvalidBlobType"


def test_seal_append_blob(container: ContainerClient) -> None:
    blob = container.get_blob_client("sealed")
    blob.create_append_blob()
    blob.append_block(b"a")
    blob.seal_append_blob()
    with pytest.raises(HttpResponseError) as info:
        blob.append_block(b"b")
    assert info.value.status_code == 409


def test_page_blob_write_clear_ranges_resize(container: ContainerClient) -> None:
    blob = container.get_blob_client("disk")
    blob.create_page_blob(size=4096, sequence_number=3)
    props = blob.get_blob_properties()
    assert props.blob_type == BlobType.PAGEBLOB and props.size == 4096
    data = os.urandom(1024)
    blob.upload_page(data, offset=512, length=1024)
    blob.upload_page(b"\x01" * 512, offset=3072, length=512)
    ranges = [(r.start, r.end, r.cleared) for r in blob.list_page_ranges()]
    assert ranges == [(512, 1535, False), (3072, 3583, False)]
    content = blob.download_blob().readall()
    assert content[:512] == bytes(512) and content[512:1536] == data and content[3072:3584] == b"\x01" * 512
    blob.clear_page(offset=512, length=512)
    ranges = [(r.start, r.end) for r in blob.list_page_ranges()]
    assert ranges == [(1024, 1535), (3072, 3583)]
    assert blob.download_blob(offset=512, length=512).readall() == bytes(512)
    blob.resize_blob(2048)
    assert blob.get_blob_properties().size == 2048
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == [(1024, 1535)]
    assert [(r.start, r.end) for r in blob.list_page_ranges(offset=1024, length=512)] == [(1024, 1535)]
    with pytest.raises(HttpResponseError) as info:
        blob.upload_page(b"x" * 512, offset=4096, length=512)
    assert info.value.status_code == 416


def test_page_blob_sequence_number(container: ContainerClient) -> None:
    blob = container.get_blob_client("seq")
    blob.create_page_blob(size=1024, sequence_number=5)
    assert blob.get_blob_properties().page_blob_sequence_number == 5
    blob.set_sequence_number("increment")
    assert blob.get_blob_properties().page_blob_sequence_number == 6
    blob.set_sequence_number("max", 3)
    assert blob.get_blob_properties().page_blob_sequence_number == 6
    blob.set_sequence_number("update", 42)
    assert blob.get_blob_properties().page_blob_sequence_number == 42
    with pytest.raises(HttpResponseError) as info:
        blob.upload_page(b"x" * 512, offset=0, length=512, if_sequence_number_lt=10)
    assert info.value.status_code == 412 and info.value.error_code == "SequenceNumberConditionNotMet"
    blob.upload_page(b"x" * 512, offset=0, length=512, if_sequence_number_eq=42)


def test_page_blob_snapshot_is_frozen(container: ContainerClient) -> None:
    blob = container.get_blob_client("frozen")
    blob.create_page_blob(size=1024)
    blob.upload_page(b"a" * 512, offset=0, length=512)
    snapshot = blob.create_snapshot()["snapshot"]
    blob.upload_page(b"b" * 512, offset=0, length=512)
    old = container.get_blob_client("frozen", snapshot=snapshot).download_blob().readall()
    assert old[:512] == b"a" * 512
    assert blob.download_blob().readall()[:512] == b"b" * 512


def test_page_blob_size_must_be_aligned(container: ContainerClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        container.get_blob_client("odd").create_page_blob(size=1000)
    assert info.value.status_code == 400


def test_sdk_page_blob_upload_in_chunks(container: ContainerClient) -> None:
    from azure.storage.blob import BlobType

    data = os.urandom(5 * 1024 * 1024)
    container.upload_blob("chunked-pages", data, blob_type=BlobType.PAGEBLOB, max_concurrency=2)
    assert container.download_blob("chunked-pages").readall() == data
    ranges = [(r.start, r.end) for r in container.get_blob_client("chunked-pages").list_page_ranges()]
    assert ranges == [(0, len(data) - 1)]


def test_page_range_diff_against_a_snapshot(container: ContainerClient) -> None:
    blob = container.get_blob_client("diff")
    blob.create_page_blob(size=2048)
    blob.upload_page(b"a" * 512, offset=0, length=512)
    snapshot = blob.create_snapshot()["snapshot"]
    blob.clear_page(offset=0, length=512)
    blob.upload_page(b"b" * 512, offset=512, length=512)
    diff = sorted((r.start, r.end, r.cleared) for r in blob.list_page_ranges(previous_snapshot=snapshot))
    assert diff == [(0, 511, True), (512, 1023, False)]
