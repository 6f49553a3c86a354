"""Blob handlers that read content or change properties: Get Blob (streamed), properties,
metadata, leases, snapshots, tiers, tags, page ranges, delete and undelete."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.blob import errors, xml
from adapters.blob.models import BLOCK, PAGE, new_etag
from adapters.blob.protocol import (
    apply_content_headers,
    blob_headers,
    bool_header,
    check_blob_lease,
    check_conditions,
    etag_headers,
    int_header,
    lease_action,
    metadata_from,
    metadata_headers,
    reply,
    requested_range,
    resolve_range,
)
from adapters.blob.tags import validate_tags
from adapters.blob.writes import PAGE_SIZE, PAGE_TIERS, TIERS, _sequence_checks, blob_name, merge_range
from controlplane.adapter import RequestContext
from controlplane.gateway.http import read_body

if TYPE_CHECKING:
    from adapters.blob.api import BlobService

_XML = b"application/xml"
RANGE_MD5_LIMIT = 4 * 1024 * 1024
TAGS_LIMIT = 64 * 1024


async def get_blob(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    _, blob = svc.blob(context)
    now = time.time()
    check_blob_lease(blob.lease, headers, now, write=False)
    check_conditions(headers, blob.etag, blob.modified, read=True, tags=blob.tags)
    response = []
    response.extend(blob_headers(blob, now))
    head = scope["method"] == "HEAD"
    wanted = None if head else requested_range(headers)
    if wanted is None:
        start, end, status = 0, blob.size, 200
        if blob.content_md5:
            response.append((b"content-md5", blob.content_md5.encode()))
    else:
        start, end = resolve_range(wanted, blob.size)
        status = 206
        response.append((b"content-range", f"bytes {start}-{end - 1}/{blob.size}".encode()))
        if blob.content_md5:
            response.append((b"x-ms-blob-content-md5", blob.content_md5.encode()))
        if bool_header(headers, "x-ms-range-get-content-md5"):
            if end - start > RANGE_MD5_LIMIT:
                raise errors.OutOfRangeInput("The range is too large to compute its MD5 (4 MiB at most).")
            data = await svc.content.read_all(blob, start, end, RANGE_MD5_LIMIT)
            response.append((b"content-md5", base64.b64encode(hashlib.md5(data).digest())))
    if head:
        if blob.kind == BLOCK:
            response.append((b"x-ms-access-tier", (blob.tier or "Hot").encode()))
            if blob.tier:
                response.append((b"x-ms-access-tier-change-time", xml.http_date(blob.tier_changed).encode()))
            else:
                response.append((b"x-ms-access-tier-inferred", b"true"))
        elif blob.kind == PAGE and blob.tier:
            response.append((b"x-ms-access-tier", blob.tier.encode()))
        if blob.version and not blob.snapshot and blob is _live(svc, context):
            response.append((b"x-ms-is-current-version", b"true"))
        response.append((b"content-length", str(blob.size).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response})
        await send({"type": "http.response.body", "body": b""})
        return
    response.append((b"content-length", str(end - start).encode()))
    if blob.inline is not None:
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": blob.inline[start:end]})
        return
    chunks = svc.content.read(blob, start, end)
    try:
        first = await anext(chunks, b"")
        await send({"type": "http.response.start", "status": status, "headers": response})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": first, "more_body": True})
            first = chunk
        await send({"type": "http.response.body", "body": first})
    finally:
        await chunks.aclose()


def _live(svc: BlobService, context: RequestContext) -> object:
    container = svc.store.containers.get((context.target.account, context.operation.resource.split("/", 1)[0]))
    return container.blobs.get(blob_name(context)) if container else None


async def delete_blob(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    store = svc.store
    now = time.time()
    retention = store.soft_delete_days(container.account)
    name = blob.name
    if blob.snapshot or blob is not container.blobs.get(name):
        # A snapshot or a previous version, named by the query.
        if "x-ms-delete-snapshots" in headers:
            raise errors.invalid_header("x-ms-delete-snapshots", headers["x-ms-delete-snapshots"])
        if retention and blob.snapshot:
            store.soft_delete(container, blob)
        else:
            store.drop(container, blob)
        return await reply(send, 202, [(b"x-ms-delete-type-permanent", b"false")])
    check_blob_lease(blob.lease, headers, now, write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    option = headers.get("x-ms-delete-snapshots", "").lower()
    snapshots = [b for b in container.history.get(name, []) if b.snapshot and not b.deleted]
    if snapshots and option not in ("include", "only"):
        raise errors.SnapshotsPresent()
    if option and option not in ("include", "only"):
        raise errors.invalid_header("x-ms-delete-snapshots", option)
    for snapshot in snapshots:
        if retention:
            store.soft_delete(container, snapshot)
        else:
            store.drop(container, snapshot)
    if option != "only":
        if svc.versioning_on(container.account) and blob.version:
            store.retire_current_version(container, blob)
        elif retention:
            store.soft_delete(container, blob)
        else:
            store.drop(container, blob)
    await reply(send, 202, [(b"x-ms-delete-type-permanent", b"false" if retention else b"true")])


async def undelete(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    name = blob_name(context)
    if name not in container.blobs and not container.history.get(name):
        raise errors.BlobNotFound()
    svc.store.undelete(container, name)
    await reply(send, 200, [])


async def get_block_list(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    name = blob_name(context)
    kind = context.query.get("blocklisttype", "committed").lower()
    if kind not in ("committed", "uncommitted", "all"):
        raise errors.invalid_query("blocklisttype", kind)
    blob = None
    if context.query.get("snapshot") or context.query.get("versionid"):
        _, blob = svc.blob(context)
    else:
        blob = container.blobs.get(name)
    staged = svc.store.staged(container, name)
    if blob is None and not staged:
        raise errors.BlobNotFound()
    if blob is not None:
        if blob.kind != BLOCK:
            raise errors.InvalidBlobType()
        check_blob_lease(blob.lease, headers, time.time(), write=False)
    committed = [(i, e[1]) for i, e in zip(blob.block_ids, blob.extents, strict=False)] if blob is not None else []
    uncommitted = [(i, v[1]) for i, v in staged.items()]
    body = xml.block_list(
        committed if kind in ("committed", "all") else None,  # type: ignore[arg-type]
        uncommitted if kind in ("uncommitted", "all") else None,
    )
    response = []
    if blob is not None:
        response.extend(etag_headers(blob.etag, blob.modified))
        response.append((b"x-ms-blob-content-length", str(blob.size).encode()))
    await reply(send, 200, response, body, _XML)


async def set_properties(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.snapshot:
        raise errors.InvalidOperation()
    check_blob_lease(blob.lease, headers, time.time(), write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    if blob.kind == PAGE:
        size = int_header(headers, "x-ms-blob-content-length")
        if size is not None:
            if size < 0 or size % PAGE_SIZE:
                raise errors.invalid_header("x-ms-blob-content-length", str(size))
            svc.content.resize(blob.extents[0][0], size)
            blob.extents[0][1] = size
            blob.size = size
            blob.pages = merge_range(blob.pages, size, max(size, *(p[1] for p in blob.pages), 0), clear=True)
        action = headers.get("x-ms-sequence-number-action", "").lower()
        if action:
            number = int_header(headers, "x-ms-blob-sequence-number", 0) or 0
            if action == "increment":
                if "x-ms-blob-sequence-number" in headers:
                    raise errors.invalid_header("x-ms-blob-sequence-number", headers["x-ms-blob-sequence-number"])
                blob.sequence += 1
            elif action == "max":
                blob.sequence = max(blob.sequence, number)
            elif action == "update":
                blob.sequence = number
            else:
                raise errors.invalid_header("x-ms-sequence-number-action", action)
    if not (blob.kind == PAGE and "x-ms-blob-content-length" in headers and not _has_content_headers(headers)):
        apply_content_headers(blob, headers, from_body=False)
    blob.etag = new_etag()
    blob.modified = time.time()
    svc.store.save_blob(container, blob)
    response = [*etag_headers(blob.etag, blob.modified)]
    if blob.kind == PAGE:
        response.append((b"x-ms-blob-sequence-number", str(blob.sequence).encode()))
    await reply(send, 200, response)


def _has_content_headers(headers: dict[str, str]) -> bool:
    return any(k.startswith("x-ms-blob-content-") and k != "x-ms-blob-content-length" or k == "x-ms-blob-cache-control"
               for k in headers)  # fmt: skip


async def get_metadata(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    _, blob = svc.blob(context)
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    check_conditions(headers, blob.etag, blob.modified, read=True, tags=blob.tags)
    response = [*etag_headers(blob.etag, blob.modified), *metadata_headers(blob.metadata)]
    await reply(send, 200, response)


async def set_metadata(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.snapshot:
        raise errors.InvalidOperation()
    check_blob_lease(blob.lease, headers, time.time(), write=True)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    blob.metadata = metadata_from(headers)
    blob.etag = new_etag()
    blob.modified = time.time()
    svc.store.save_blob(container, blob)
    response = [*etag_headers(blob.etag, blob.modified)]
    response.append((b"x-ms-request-server-encrypted", b"true"))
    await reply(send, 200, response)


async def lease(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.snapshot:
        raise errors.InvalidOperation()
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    new, status, extra = lease_action(blob.lease, headers, time.time())
    blob.lease = new
    svc.store.save_blob(container, blob)
    await reply(send, status, [*etag_headers(blob.etag, blob.modified), *extra])


async def snapshot(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    if blob.snapshot:
        raise errors.InvalidOperation()
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    private = None
    if blob.kind == PAGE:
        # Page blobs are written in place: the snapshot needs its own copy of the file.
        private = await svc.content.duplicate(blob.extents[0][0])
        container, blob = svc.blob(context)
    snap = svc.store.add_snapshot(container, blob)
    if private is not None:
        svc.content.release(snap.file_ids())
        snap.extents = [[private, blob.size]]
        svc.content.retain([private])
        svc.store.save_blob(container, snap)
    metadata = metadata_from(headers)
    if metadata:
        snap.metadata = metadata
        svc.store.save_blob(container, snap)
    response = [*etag_headers(blob.etag, blob.modified)]
    response.append((b"x-ms-snapshot", snap.snapshot.encode()))
    response.append((b"x-ms-request-server-encrypted", b"false"))
    if blob.version:
        response.append((b"x-ms-version-id", blob.version.encode()))
    await reply(send, 201, response)


async def set_tier(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container, blob = svc.blob(context)
    tier = headers.get("x-ms-access-tier")
    if not tier:
        raise errors.missing_header("x-ms-access-tier")
    allowed = TIERS if blob.kind == BLOCK else PAGE_TIERS if blob.kind == PAGE else set()
    matched = next((t for t in allowed if t.lower() == tier.lower()), None)
    if matched is None:
        raise errors.InvalidBlobTier() if blob.kind != "AppendBlob" else errors.InvalidBlobType()
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    status = 200 if blob.tier in ("", matched) or matched != "Archive" else 202
    blob.tier = matched
    blob.tier_changed = time.time()
    svc.store.save_blob(container, blob)
    await reply(send, status, [])


async def get_tags(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    _, blob = svc.blob(context)
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    await reply(send, 200, [], xml.tags_document(blob.tags), _XML)


async def set_tags(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    body = await read_body(receive, TAGS_LIMIT)
    tags = validate_tags(xml.parse_tags(body))
    container, blob = svc.blob(context)
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    check_conditions(headers, blob.etag, blob.modified, tags=blob.tags)
    blob.tags = tags
    svc.store.save_blob(container, blob)
    await reply(send, 204, [])


async def get_page_ranges(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    _, blob = svc.blob(context)
    if blob.kind != PAGE:
        raise errors.InvalidBlobType()
    check_blob_lease(blob.lease, headers, time.time(), write=False)
    check_conditions(headers, blob.etag, blob.modified, read=True, tags=blob.tags)
    _sequence_checks(blob, headers)
    ranges = blob.pages
    wanted = requested_range(headers)
    if wanted is not None:
        start, end = resolve_range(wanted, blob.size)
        ranges = [[max(s, start), min(e, end)] for s, e in ranges if e > start and s < end]
    cleared: list[list[int]] = []
    previous = context.query.get("prevsnapshot")
    if previous:
        history = svc.container(context).history.get(blob_name(context), [])
        base = next((b for b in history if b.snapshot == previous), None)
        if base is None:
            raise errors.AzureError("The previous snapshot was not found.", status=404, code="PreviousSnapshotNotFound")
        ranges, cleared = _diff(base.pages, ranges)
    response = [*etag_headers(blob.etag, blob.modified)]
    response.append((b"x-ms-blob-content-length", str(blob.size).encode()))
    await reply(send, 200, response, xml.page_list(ranges, cleared), _XML)


def _diff(old: list[list[int]], new: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Ranges written since a snapshot (approximated as every current range) and ranges cleared."""
    cleared = list(old)
    for start, end in new:
        cleared = merge_range(cleared, start, end, clear=True)
    return new, cleared
