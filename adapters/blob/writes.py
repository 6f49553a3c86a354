"""Handlers that write content: Put Blob, blocks, append blocks, pages and copies."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.blob import errors, xml
from adapters.blob.content import Received
from adapters.blob.crc64 import crc64_bytes
from adapters.blob.models import APPEND, BLOCK, PAGE, Blob, Container, new_etag
from adapters.blob.protocol import (
    apply_content_headers,
    bool_header,
    check_blob_lease,
    check_conditions,
    decode_crc64,
    decode_md5,
    etag_headers,
    int_header,
    metadata_from,
    reply,
)
from adapters.blob.tags import parse_tag_header
from controlplane.adapter import RequestContext
from controlplane.gateway.http import read_body

if TYPE_CHECKING:
    from adapters.blob.api import BlobService

MAX_PUT_BLOB = 5000 * 1024 * 1024
MAX_BLOCK = 4000 * 1024 * 1024
MAX_APPEND_BLOCK = 100 * 1024 * 1024
MAX_BLOCKS = 50_000
MAX_UNCOMMITTED = 100_000
PAGE_SIZE = 512
MAX_PAGE_WRITE = 4 * 1024 * 1024
BLOCK_LIST_LIMIT = 16 * 1024 * 1024
TIERS = {"Hot", "Cool", "Cold", "Archive"}
PAGE_TIERS = {f"P{n}" for n in (4, 6, 10, 15, 20, 30, 40, 50, 60, 70, 80)}


def blob_name(context: RequestContext) -> str:
    return context.operation.resource.split("/", 1)[1]


def _write_checks(svc: BlobService, container: Container, name: str, headers: dict[str, str]) -> Blob | None:
    existing = container.blobs.get(name)
    if existing is not None and headers.get("if-none-match", "").strip() == "*":
        raise errors.BlobAlreadyExists()
    now = time.time()
    check_blob_lease(existing.lease if existing else None, headers, now, write=True)
    if existing is None:
        check_conditions(headers, None, 0.0)
    else:
        check_conditions(headers, existing.etag, existing.modified, tags=existing.tags)
    return existing


def _verify_received(received: Received, headers: dict[str, str]) -> None:
    md5 = decode_md5(headers, "content-md5")
    if md5 is not None and md5 != received.md5:
        raise errors.Md5Mismatch(
            details={
                "UserSpecifiedMd5": headers["content-md5"],
                "ServerCalculatedMd5": base64.b64encode(received.md5).decode(),
            }
        )
    crc = decode_crc64(headers)
    if crc is not None and crc != received.crc:
        raise errors.Crc64Mismatch()


def _finish_headers(blob: Blob, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    response = [*etag_headers(blob.etag, blob.modified)]
    response.append((b"x-ms-request-server-encrypted", b"true"))
    if blob.version:
        response.append((b"x-ms-version-id", blob.version.encode()))
    return response


def _new_blob(name: str, kind: str, headers: dict[str, str], existing: Blob | None) -> Blob:
    blob = Blob(name, kind)
    blob.metadata = metadata_from(headers)
    tags = headers.get("x-ms-tags")
    if tags:
        blob.tags = parse_tag_header(tags)
    tier = headers.get("x-ms-access-tier")
    if tier:
        if tier not in TIERS and tier not in PAGE_TIERS:
            raise errors.InvalidBlobTier()
        blob.tier = tier
        blob.tier_changed = blob.modified
    if existing is not None:
        blob.lease = existing.lease
    return blob


# -- Put Blob ------------------------------------------------------------------------------------


async def put_blob(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    from adapters.blob.api import check_blob_name

    container = svc.container(context)
    name = blob_name(context)
    check_blob_name(name)
    if "x-ms-copy-source" in headers:
        return await copy_blob(svc, scope, receive, send, context, headers, container, name)
    kind = headers.get("x-ms-blob-type")
    if kind is None:
        raise errors.missing_header("x-ms-blob-type")
    if kind not in (BLOCK, PAGE, APPEND):
        raise errors.invalid_header("x-ms-blob-type", kind)
    _write_checks(svc, container, name, headers)
    if kind == BLOCK:
        received = await svc.content.receive(
            receive, svc.inline_limit, MAX_PUT_BLOB, want_crc="x-ms-content-crc64" in headers
        )
        try:
            _verify_received(received, headers)
            # The body took awaits: the blob may have changed meanwhile, so check again.
            existing = _write_checks(svc, container, name, headers)
            if (context.target.account, container.name) not in svc.store.containers:
                raise errors.ContainerNotFound()
            blob = _new_blob(name, BLOCK, headers, existing)
            apply_content_headers(blob, headers, from_body=True)
            blob.content_md5 = headers.get("x-ms-blob-content-md5") or base64.b64encode(received.md5).decode()
        except BaseException:
            if received.file_id is not None:
                svc.content.remove(received.file_id)
            raise
        blob.size = received.size
        if received.file_id is None:
            blob.inline = received.inline
        else:
            blob.extents = [[received.file_id, received.size]]
            svc.content.retain([received.file_id])
        svc.store.commit(container, blob, svc.versioning_on(container.account))
        response = _finish_headers(blob, headers)
        response.append((b"content-md5", base64.b64encode(received.md5).decode().encode()))
        if received.crc is not None:
            response.append((b"x-ms-content-crc64", base64.b64encode(crc64_bytes(received.crc))))
        return await reply(send, 201, response)
    await read_body(receive, 0)
    existing = container.blobs.get(name)
    blob = _new_blob(name, kind, headers, existing)
    apply_content_headers(blob, headers, from_body=True)
    blob.content_md5 = headers.get("x-ms-blob-content-md5", "")
    if kind == PAGE:
        size = int_header(headers, "x-ms-blob-content-length")
        if size is None:
            raise errors.missing_header("x-ms-blob-content-length")
        if size < 0 or size % PAGE_SIZE:
            raise errors.invalid_header("x-ms-blob-content-length", str(size))
        sequence = int_header(headers, "x-ms-blob-sequence-number", 0) or 0
        if not 0 <= sequence < 2**63:
            raise errors.invalid_header("x-ms-blob-sequence-number", str(sequence))
        blob.sequence = sequence
        blob.size = size
        file_id = svc.content.create_sparse(size)
        blob.extents = [[file_id, size]]
        svc.content.retain([file_id])
    svc.store.commit(container, blob, svc.versioning_on(container.account))
    await reply(send, 201, _finish_headers(blob, headers))


# -- blocks --------------------------------------------------------------------------------------


def _block_id(context: RequestContext) -> str:
    block_id = context.query.get("blockid")
    if block_id is None:
        raise errors.MissingRequiredHeader(
            "A query parameter that's mandatory for this request is not specified.",
            code="MissingRequiredQueryParameter",
            details={"QueryParameterName": "blockid"},
        )
    try:
        raw = base64.b64decode(block_id, validate=True)
    except ValueError:
        raise errors.InvalidBlockId() from None
    if not raw or len(raw) > 64:
        raise errors.InvalidBlockId()
    return block_id


def _block_blob_checks(container: Container, name: str, headers: dict[str, str]) -> None:
    existing = container.blobs.get(name)
    if existing is not None:
        if existing.kind != BLOCK:
            raise errors.InvalidBlobType()
        check_blob_lease(existing.lease, headers, time.time(), write=True)


async def put_block(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    name = blob_name(context)
    block_id = _block_id(context)
    _block_blob_checks(container, name, headers)
    if len(svc.store.staged(container, name)) >= MAX_UNCOMMITTED:
        raise errors.BlockCountExceedsLimit(
            "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks."
        )
    source = headers.get("x-ms-copy-source")
    if source is not None:
        await read_body(receive, 0)
        source_blob = find_source(svc, source, headers)
        start, end = _source_range(headers, source_blob.size)
        file_id, size = await svc.content.copy_pieces(source_blob, start, end)
        md5 = b""
    else:
        received = await svc.content.receive(receive, -1, MAX_BLOCK, want_crc="x-ms-content-crc64" in headers)
        assert received.file_id is not None
        file_id, size, md5 = received.file_id, received.size, received.md5
        try:
            _verify_received(received, headers)
        except BaseException:
            svc.content.remove(file_id)
            raise
    try:
        if (context.target.account, container.name) not in svc.store.containers:
            raise errors.ContainerNotFound()
        _block_blob_checks(container, name, headers)
    except BaseException:
        svc.content.remove(file_id)
        raise
    svc.store.stage_block(container, name, block_id, file_id, size)
    response = []
    if md5:
        response.append((b"content-md5", base64.b64encode(md5)))
    response.append((b"x-ms-request-server-encrypted", b"true"))
    await reply(send, 201, response)


async def put_block_list(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    from adapters.blob.api import check_blob_name

    container = svc.container(context)
    name = blob_name(context)
    check_blob_name(name)
    body = await read_body(receive, BLOCK_LIST_LIMIT)
    md5 = decode_md5(headers, "content-md5")
    if md5 is not None and md5 != hashlib.md5(body).digest():
        raise errors.Md5Mismatch()
    entries = xml.parse_block_list(body)
    if len(entries) > MAX_BLOCKS:
        raise errors.BlockCountExceedsLimit()
    existing = _write_checks(svc, container, name, headers)
    if existing is not None and existing.kind != BLOCK:
        raise errors.InvalidBlobType()
    staged = svc.store.staged(container, name)
    committed: dict[str, list[Any]] = {}
    if existing is not None:
        committed = dict(zip(existing.block_ids, existing.extents, strict=False))
    extents: list[list[Any]] = []
    block_ids: list[str] = []
    size = 0
    for kind, block_id in entries:
        piece = None
        if kind in ("Uncommitted", "Latest"):
            piece = staged.get(block_id)
        if piece is None and kind in ("Committed", "Latest"):
            piece = committed.get(block_id)
        if piece is None:
            raise errors.InvalidBlockList()
        extents.append([piece[0], piece[1]])
        block_ids.append(block_id)
        size += piece[1]
    blob = _new_blob(name, BLOCK, headers, existing)
    apply_content_headers(blob, headers, from_body=False)
    if not blob.content_type:
        blob.content_type = "application/octet-stream"
    blob.size = size
    blob.extents = extents
    blob.block_ids = block_ids
    svc.content.retain([e[0] for e in extents])
    svc.store.commit(container, blob, svc.versioning_on(container.account))
    await reply(send, 201, _finish_headers(blob, headers))


# -- append blobs --------------------------------------------------------------------------------


async def append_block(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    _append_checks(blob, headers, None)
    source = headers.get("x-ms-copy-source")
    if source is not None:
        await read_body(receive, 0)
        source_blob = find_source(svc, source, headers)
        start, end = _source_range(headers, source_blob.size)
        file_id, size = await svc.content.copy_pieces(source_blob, start, end)
        md5 = b""
    else:
        received = await svc.content.receive(receive, -1, MAX_APPEND_BLOCK, want_crc="x-ms-content-crc64" in headers)
        assert received.file_id is not None
        file_id, size, md5 = received.file_id, received.size, received.md5
        try:
            _verify_received(received, headers)
        except BaseException:
            svc.content.remove(file_id)
            raise
    try:
        container, blob = svc.blob(context)
        _append_checks(blob, headers, size)
    except BaseException:
        svc.content.remove(file_id)
        raise
    offset = blob.size
    blob.extents.append([file_id, size])
    svc.content.retain([file_id])
    blob.size += size
    blob.etag = new_etag()
    blob.modified = time.time()
    svc.store.save_blob(container, blob)
    response = _finish_headers(blob, headers)
    response.append((b"x-ms-blob-append-offset", str(offset).encode()))
    response.append((b"x-ms-blob-committed-block-count", str(len(blob.extents)).encode()))
    if md5:
        response.append((b"content-md5", base64.b64encode(md5)))
    await reply(send, 201, response)


def _append_checks(blob: Blob, headers: dict[str, str], size: int | None) -> None:
    if blob.kind != APPEND:
        raise errors.InvalidBlobType()
    if blob.sealed:
        raise errors.AzureError("The blob is sealed.", status=409, code="BlobIsSealed")
    check_blob_lease(blob.lease, headers, time.time(), write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    position = int_header(headers, "x-ms-blob-condition-appendpos")
    if position is not None and position != blob.size:
        raise errors.AppendPositionConditionNotMet()
    max_size = int_header(headers, "x-ms-blob-condition-maxsize")
    if max_size is not None and blob.size + (size or 0) > max_size:
        raise errors.MaxBlobSizeConditionNotMet()
    if len(blob.extents) >= MAX_BLOCKS:
        raise errors.BlockCountExceedsLimit()


async def seal(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.kind != APPEND:
        raise errors.InvalidBlobType()
    check_blob_lease(blob.lease, headers, time.time(), write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    blob.sealed = True
    blob.etag = new_etag()
    blob.modified = time.time()
    svc.store.save_blob(container, blob)
    response = _finish_headers(blob, headers)
    response.append((b"x-ms-blob-sealed", b"true"))
    await reply(send, 200, response)


# -- page blobs ----------------------------------------------------------------------------------


def page_range(headers: dict[str, str], size: int) -> tuple[int, int]:
    """[start, end) of the x-ms-range / Range of a page write; both ends 512-aligned."""
    raw = headers.get("x-ms-range") or headers.get("range")
    if not raw:
        raise errors.missing_header("x-ms-range")
    text = raw.strip()
    if not text.startswith("bytes=") or "-" not in text:
        raise errors.invalid_header("x-ms-range", raw)
    low, _, high = text[6:].partition("-")
    if not low.isdigit() or not high.isdigit():
        raise errors.invalid_header("x-ms-range", raw)
    start, end = int(low), int(high) + 1
    if start % PAGE_SIZE or end % PAGE_SIZE or end <= start:
        raise errors.InvalidPageRange("The page range specified is invalid.", status=400, code="InvalidPageRange")
    if end > size:
        raise errors.InvalidPageRange()
    return start, end


def _sequence_checks(blob: Blob, headers: dict[str, str]) -> None:
    for name, test in (
        ("x-ms-if-sequence-number-le", lambda n: blob.sequence <= n),
        ("x-ms-if-sequence-number-lt", lambda n: blob.sequence < n),
        ("x-ms-if-sequence-number-eq", lambda n: blob.sequence == n),
    ):
        value = int_header(headers, name)
        if value is not None and not test(value):
            raise errors.SequenceNumberConditionNotMet()


def merge_range(pages: list[list[int]], start: int, end: int, clear: bool) -> list[list[int]]:
    """Page ranges after writing (or clearing) [start, end)."""
    result: list[list[int]] = []
    for low, high in pages:
        if high <= start or low >= end:
            result.append([low, high])
            continue
        if low < start:
            result.append([low, start])
        if high > end:
            result.append([end, high])
    if not clear:
        result.append([start, end])
    result.sort()
    merged: list[list[int]] = []
    for low, high in result:
        if merged and merged[-1][1] >= low:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return merged


async def put_page(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.kind != PAGE:
        raise errors.InvalidBlobType()
    action = headers.get("x-ms-page-write", "").lower()
    if action not in ("update", "clear"):
        raise errors.invalid_header("x-ms-page-write", action)
    start, end = page_range(headers, blob.size)
    check_blob_lease(blob.lease, headers, time.time(), write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    _sequence_checks(blob, headers)
    md5 = b""
    if action == "update":
        if "x-ms-copy-source" in headers:
            await read_body(receive, 0)
            source_blob = find_source(svc, headers["x-ms-copy-source"], headers)
            low, high = _source_range(headers, source_blob.size)
            data = await svc.content.read_all(source_blob, low, high, MAX_PAGE_WRITE)
        else:
            data = await read_body(receive, MAX_PAGE_WRITE)
            md5 = hashlib.md5(data).digest()
            given = decode_md5(headers, "content-md5")
            if given is not None and given != md5:
                raise errors.Md5Mismatch()
        if len(data) != end - start:
            raise errors.InvalidPageRange("The page range does not match the body length.", status=400)
    else:
        await read_body(receive, 0)
        data = None
    container, blob = svc.blob(context)
    await svc.content.write_at(blob.extents[0][0], start, data, end - start)
    blob.pages = merge_range(blob.pages, start, end, clear=data is None)
    blob.etag = new_etag()
    blob.modified = time.time()
    svc.store.save_blob(container, blob)
    response = _finish_headers(blob, headers)
    response.append((b"x-ms-blob-sequence-number", str(blob.sequence).encode()))
    if md5:
        response.append((b"content-md5", base64.b64encode(md5)))
    await reply(send, 201, response)


# -- copies --------------------------------------------------------------------------------------


def find_source(svc: BlobService, url: str, headers: dict[str, str]) -> Blob:
    """The blob a copy source URL names, which must be served by this emulator."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    label, _, rest = host.partition(".")
    if rest.startswith("blob."):
        account, resource = label, path.lstrip("/")
    else:
        account, _, resource = path.lstrip("/").partition("/")
    container_name, _, name = resource.partition("/")
    container = svc.store.containers.get((account, container_name))
    if container is None or not name:
        raise errors.CannotVerifyCopySource()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    snapshot, version = query.get("snapshot"), query.get("versionid")
    for blob in svc.store.generations(container, name):
        if blob.deleted:
            continue
        if snapshot and blob.snapshot != snapshot:
            continue
        if version and blob.version != version:
            continue
        if not snapshot and not version and blob is not container.blobs.get(name):
            continue
        check_conditions(headers, blob.etag, blob.modified, prefix="x-ms-source-", failure=errors.SourceConditionNotMet)
        return blob
    raise errors.CannotVerifyCopySource()


def _source_range(headers: dict[str, str], size: int) -> tuple[int, int]:
    raw = headers.get("x-ms-source-range")
    if not raw:
        return 0, size
    text = raw.strip()
    low, _, high = text[6:].partition("-") if text.startswith("bytes=") else ("", "", "")
    if not low.isdigit() or (high and not high.isdigit()):
        raise errors.invalid_header("x-ms-source-range", raw)
    start = int(low)
    end = int(high) + 1 if high else size
    if start >= size or end > size:
        raise errors.InvalidRange()
    return start, end


async def copy_blob(
    svc: BlobService,
    scope: dict,
    receive: Callable,
    send: Callable,
    context: RequestContext,
    headers: dict[str, str],
    container: Container,
    name: str,
) -> None:
    """Copy Blob, Copy Blob From URL and Put Blob From URL: the source is in this emulator, so
    every copy completes before the response (status ``success``)."""
    await read_body(receive, 0)
    source_url = headers["x-ms-copy-source"]
    source = find_source(svc, source_url, headers)
    existing = _write_checks(svc, container, name, headers)
    from_url = headers.get("x-ms-blob-type") == BLOCK  # Put Blob From URL
    blob = _new_blob(name, source.kind, headers, existing)
    if not blob.metadata and not from_url and not any(k.startswith("x-ms-meta-") for k in headers):
        blob.metadata = dict(source.metadata)
    if from_url:
        apply_content_headers(blob, headers, from_body=False)
        if not blob.content_type:
            blob.content_type = source.content_type
        if not blob.content_md5:
            blob.content_md5 = source.content_md5
    else:
        for attribute in ("content_type", "content_encoding", "content_language", "content_disposition",
                          "cache_control", "content_md5"):  # fmt: skip
            setattr(blob, attribute, getattr(source, attribute))
    if headers.get("x-ms-copy-source-tag-option", "").upper() == "COPY":
        blob.tags = dict(source.tags)
    blob.size = source.size
    blob.inline = source.inline
    blob.block_ids = list(source.block_ids)
    blob.sequence = source.sequence
    blob.pages = [list(p) for p in source.pages]
    if source.kind == PAGE:
        blob.extents = [[await svc.content.duplicate(source.extents[0][0]), source.size]]
    else:
        blob.extents = [list(e) for e in source.extents]
    svc.content.retain(blob.file_ids())
    copy_id = str(uuid.uuid4())
    if not from_url:
        blob.copy = {
            "id": copy_id,
            "source": source_url,
            "status": "success",
            "progress": f"{source.size}/{source.size}",
            "completed": time.time(),
        }
    svc.store.commit(container, blob, svc.versioning_on(container.account))
    response = _finish_headers(blob, headers)
    if from_url:
        if blob.content_md5:
            response.append((b"content-md5", blob.content_md5.encode()))
        return await reply(send, 201, response)
    response.append((b"x-ms-copy-id", copy_id.encode()))
    response.append((b"x-ms-copy-status", b"success"))
    if bool_header(headers, "x-ms-requires-sync") and blob.content_md5:
        response.append((b"content-md5", blob.content_md5.encode()))
    await reply(send, 202, response)


async def abort_copy(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    if headers.get("x-ms-copy-action", "").lower() != "abort":
        raise errors.invalid_header("x-ms-copy-action", headers.get("x-ms-copy-action", ""))
    container, blob = svc.blob(context)
    copy_id = context.query.get("copyid", "")
    if blob.copy is None or blob.copy.get("id") != copy_id:
        raise errors.CopyIdMismatch()
    if blob.copy.get("status") != "pending":
        raise errors.NoPendingCopyOperation()
    await reply(send, 204, [])
