"""Container handlers: create, delete, properties, metadata, ACL, leases, restore, List Blobs."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from adapters.blob import errors, xml
from adapters.blob.models import Container
from adapters.blob.protocol import (
    check_conditions,
    check_container_lease,
    etag_headers,
    lease_action,
    lease_headers,
    lease_view,
    metadata_from,
    metadata_headers,
    reply,
)
from controlplane.adapter import RequestContext
from controlplane.gateway.http import read_body

if TYPE_CHECKING:
    from adapters.blob.api import BlobService

_XML = b"application/xml"
ACL_LIMIT = 64 * 1024
MAX_RESULTS = 5000
_PUBLIC_LEVELS = ("", "blob", "container")


def _public_level(headers: dict[str, str]) -> str:
    level = headers.get("x-ms-blob-public-access", "").lower()
    if level not in _PUBLIC_LEVELS:
        raise errors.invalid_header("x-ms-blob-public-access", level)
    return level


async def create(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    from adapters.blob.api import check_container_name

    name = context.operation.resource
    check_container_name(name)
    container = svc.store.create_container(context.target.account, name, metadata_from(headers), _public_level(headers))
    await reply(send, 201, [*etag_headers(container.etag, container.modified)])


async def delete(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    check_container_lease(container, headers, time.time(), required=True)
    if "if-match" in headers or "if-none-match" in headers:
        raise errors.invalid_header("If-Match", headers.get("if-match", headers.get("if-none-match", "")))
    check_conditions(headers, container.etag, container.modified)
    svc.store.delete_container(container, svc.container_soft_delete_days)
    await reply(send, 202, [])


async def get_properties(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    now = time.time()
    check_container_lease(container, headers, now, required=False)
    response = [*etag_headers(container.etag, container.modified)]
    response.extend(metadata_headers(container.metadata))
    if context.operation.name == "GetContainerProperties":
        response.extend(lease_headers(container.lease, now))
        if container.public_access:
            response.append((b"x-ms-blob-public-access", container.public_access.encode()))
        response.extend(
            [
                (b"x-ms-has-immutability-policy", b"false"),
                (b"x-ms-has-legal-hold", b"false"),
                (b"x-ms-default-encryption-scope", b"$account-encryption-key"),
                (b"x-ms-deny-encryption-scope-override", b"false"),
            ]
        )
    await reply(send, 200, response)


async def set_metadata(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    check_container_lease(container, headers, time.time(), required=False)
    check_conditions(headers, container.etag, container.modified)
    container.metadata = metadata_from(headers)
    svc.store.touch_container(container)
    await reply(send, 200, [*etag_headers(container.etag, container.modified)])


async def get_acl(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    check_container_lease(container, headers, time.time(), required=False)
    response = [*etag_headers(container.etag, container.modified)]
    if container.public_access:
        response.append((b"x-ms-blob-public-access", container.public_access.encode()))
    body = b"" if scope["method"] == "HEAD" else xml.signed_identifiers(container.acl)
    await reply(send, 200, response, body, _XML)


async def set_acl(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    acl = xml.parse_signed_identifiers(await read_body(receive, ACL_LIMIT))
    container = svc.container(context)
    check_container_lease(container, headers, time.time(), required=False)
    check_conditions(headers, container.etag, container.modified)
    container.acl = acl
    container.public_access = _public_level(headers)
    svc.store.touch_container(container)
    await reply(send, 200, [*etag_headers(container.etag, container.modified)])


async def lease(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    container = svc.container(context)
    if "if-match" in headers or "if-none-match" in headers:
        raise errors.invalid_header("If-Match", headers.get("if-match", headers.get("if-none-match", "")))
    check_conditions(headers, container.etag, container.modified)
    new, status, extra = lease_action(container.lease, headers, time.time())
    container.lease = new
    svc.store.save_container(container)
    await reply(send, status, [*etag_headers(container.etag, container.modified), *extra])


async def restore(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    name = headers.get("x-ms-deleted-container-name") or context.operation.resource
    version = headers.get("x-ms-deleted-container-version")
    if not version:
        raise errors.missing_header("x-ms-deleted-container-version")
    container = svc.store.restore_container(context.target.account, name, version)
    if container.name != context.operation.resource:
        raise errors.AzureError("Restoring to a new name is not supported.", status=400, code="InvalidOperation")
    await reply(send, 201, [*etag_headers(container.etag, container.modified)])


# -- List Blobs ----------------------------------------------------------------------------------


def _max_results(raw: str | None) -> int:
    if raw is None:
        return MAX_RESULTS
    if not raw.isdigit() or int(raw) < 1:
        raise errors.invalid_query("maxresults", raw)
    return min(int(raw), MAX_RESULTS)


def _items(svc: BlobService, container: Container, name: str, include: set[str], now: float) -> list[str]:
    """The XML of every generation of a name that the include set asks for, in Azure's order."""
    out: list[str] = []
    live = container.blobs.get(name)
    view = lambda lease: lease_view(lease, now)  # noqa: E731
    for blob in container.history.get(name, []):
        if (
            blob.deleted
            and not blob.snapshot
            and "deleted" in include
            or blob.snapshot
            and "snapshots" in include
            and (not blob.deleted or "deleted" in include)
            or blob.version
            and not blob.snapshot
            and not blob.deleted
            and "versions" in include
        ):
            out.append(xml.blob_item(blob, include, view, current=False))
    if live is not None:
        out.append(xml.blob_item(live, include, view, current=True))
    return out


async def list_blobs(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    from adapters.blob.service import endpoint

    container = svc.container(context)
    query = context.query
    limit = _max_results(query.get("maxresults"))
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    marker = query.get("marker", "")
    include = {part.strip().lower() for part in query.get("include", "").split(",") if part.strip()}
    if "deleted" in include:
        svc.store.purge_deleted_blobs(container)
    names = container.names
    index = bisect.bisect_left(names, max(marker, prefix))
    parts: list[str] = []
    count = 0
    next_marker = ""
    now = time.time()
    while index < len(names):
        name = names[index]
        if not name.startswith(prefix):
            break
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                group = name[: cut + len(delimiter)]
                if count >= limit:
                    next_marker = name
                    break
                parts.append(f"<BlobPrefix><Name>{escape(group)}</Name></BlobPrefix>")
                count += 1
                index = bisect.bisect_left(names, group + "\U0010ffff", index)
                continue
        items = _items(svc, container, name, include, now)
        if items:
            if count >= limit:
                next_marker = name
                break
            parts.extend(items)
            count += 1
        index += 1
    body = xml.blob_list(
        endpoint(scope, context),
        container.name,
        parts,
        (),
        query.get("prefix"),
        query.get("marker"),
        query.get("maxresults"),
        query.get("delimiter"),
        next_marker,
    )
    await reply(send, 200, [], body, _XML)
