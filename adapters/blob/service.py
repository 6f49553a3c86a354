"""Account-level handlers: service properties, List Containers, account info, Find Blobs by
Tags, CORS (preflight and response headers) and Blob Batch."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adapters.blob import errors, xml
from adapters.blob.containers import _max_results
from adapters.blob.protocol import lease_view, reply
from adapters.blob.tags import matches, parse_filter
from controlplane.adapter import RequestContext
from controlplane.gateway.http import header, read_body

if TYPE_CHECKING:
    from adapters.blob.api import BlobService

_XML = b"application/xml"
PROPERTIES_LIMIT = 64 * 1024


def endpoint(scope: dict, context: RequestContext) -> str:
    host = header(scope, b"host") or "localhost"
    scheme = scope.get("scheme", "http")
    if context.target.path_style:
        return f"{scheme}://{host}/{context.target.account}/"
    return f"{scheme}://{host}/"


async def get_properties(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    body = xml.service_properties(svc.store.get_service_properties(context.target.account))
    await reply(send, 200, [], body, _XML)


async def set_properties(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    account = context.target.account
    body = await read_body(receive, PROPERTIES_LIMIT)
    properties = xml.parse_service_properties(body, svc.store.get_service_properties(account))
    svc.store.set_service_properties(account, properties)
    await reply(send, 202, [])


async def get_stats(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    await reply(send, 200, [], xml.service_stats(time.time()), _XML)


async def account_info(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    response = []
    response.extend(
        [
            (b"x-ms-sku-name", b"Standard_RAGRS"),
            (b"x-ms-account-kind", b"StorageV2"),
            (b"x-ms-is-hns-enabled", b"false"),
        ]
    )
    await reply(send, 200, response)


async def list_containers(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    query = context.query
    limit = _max_results(query.get("maxresults"))
    prefix = query.get("prefix", "")
    marker = query.get("marker", "")
    account = context.target.account
    include = {part.strip().lower() for part in query.get("include", "").split(",")}
    found, next_name = svc.store.list_containers(account, prefix, marker, limit)
    listed: list[Any] = list(found)
    if "deleted" in include:
        svc.store.purge_deleted_containers(lambda _: svc.container_soft_delete_days)
        listed = sorted(listed + svc.store.deleted_container_list(account, prefix), key=lambda c: c.name)
    now = time.time()
    body = xml.container_list(
        endpoint(scope, context),
        listed,
        query.get("prefix"),
        query.get("marker"),
        query.get("maxresults"),
        next_name,
        "metadata" in include,
        lambda lease: lease_view(lease, now),
    )
    await reply(send, 200, [], body, _XML)


async def find_by_tags(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    query = context.query
    expression = query.get("where")
    if expression is None:
        raise errors.invalid_query("where", "")
    conditions = parse_filter(expression)
    limit = _max_results(query.get("maxresults"))
    marker = query.get("marker", "")
    account = context.target.account
    only = context.operation.resource if context.operation.resource else None
    found: list[tuple[str, str, dict[str, str]]] = []
    next_marker = ""
    for container in sorted(
        (c for (a, _), c in svc.store.containers.items() if a == account and (only is None or c.name == only)),
        key=lambda c: c.name,
    ):
        for name in container.names:
            blob = container.blobs.get(name)
            if blob is None or not blob.tags:
                continue
            position = f"{container.name}/{name}"
            if marker and position < marker:
                continue
            if matches(conditions, container.name, blob.tags):
                if len(found) == limit:
                    next_marker = position
                    break
                found.append((container.name, name, blob.tags))
        if next_marker:
            break
    await reply(send, 200, [], xml.tagged_blobs(endpoint(scope, context), found, next_marker), _XML)


# -- CORS ----------------------------------------------------------------------------------------


def _matching_rule(svc: BlobService, account: str, origin: str, method: str) -> dict[str, Any] | None:
    rules = svc.store.get_service_properties(account).get("cors") or []
    for rule in rules:
        origins = [o.strip() for o in rule["allowed_origins"].split(",")]
        methods = [m.strip().upper() for m in rule["allowed_methods"].split(",")]
        if ("*" in origins or origin in origins) and method.upper() in methods:
            return rule
    return None


def _headers_allowed(rule: dict[str, Any], requested: str) -> bool:
    allowed = [h.strip().lower() for h in rule["allowed_headers"].split(",") if h.strip()]
    for name in (h.strip().lower() for h in requested.split(",") if h.strip()):
        if not any(a == "*" or a == name or (a.endswith("*") and name.startswith(a[:-1])) for a in allowed):
            return False
    return True


async def preflight(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    origin = headers.get("origin")
    method = headers.get("access-control-request-method")
    if not origin or not method:
        raise errors.AzureError(
            "CORS not enabled or no matching rule found for this request.", status=400, code="InvalidCorsHeaderValue"
        )
    rule = _matching_rule(svc, context.target.account, origin, method)
    requested = headers.get("access-control-request-headers", "")
    if rule is None or not _headers_allowed(rule, requested):
        raise errors.AzureError(
            "CORS not enabled or no matching rule found for this request.", status=403, code="CorsPreflightFailure"
        )
    allow_origin = "*" if rule["allowed_origins"].strip() == "*" else origin
    response = [
        (b"access-control-allow-origin", allow_origin.encode()),
        (b"access-control-allow-methods", method.upper().encode()),
        (b"access-control-max-age", str(rule["max_age"]).encode()),
        (b"vary", b"Origin"),
    ]
    if requested:
        response.append((b"access-control-allow-headers", requested.encode()))
    if allow_origin != "*":
        response.append((b"access-control-allow-credentials", b"true"))
    await reply(send, 200, response)


def cors_sender(
    svc: BlobService, context: RequestContext, headers: dict[str, str], method: str, send: Callable
) -> Callable:
    if not svc.store.get_service_properties(context.target.account).get("cors"):
        return send
    rule = _matching_rule(svc, context.target.account, headers["origin"], method)
    origin = headers["origin"]

    async def send_with_cors(message: dict) -> None:
        if message["type"] == "http.response.start" and rule is not None:
            allow = "*" if rule["allowed_origins"].strip() == "*" else origin
            message["headers"] = [
                *message.get("headers", ()),
                (b"access-control-allow-origin", allow.encode()),
                (b"access-control-expose-headers", (rule["exposed_headers"] or "").encode()),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return send_with_cors


# -- Blob Batch ----------------------------------------------------------------------------------

_BOUNDARY = re.compile(r"boundary=\"?([^\";]+)\"?", re.IGNORECASE)
BATCH_LIMIT = 4 * 1024 * 1024
MAX_BATCH = 256


async def batch(
    svc: BlobService, scope: dict, receive: Callable, send: Callable, context: RequestContext, headers: dict[str, str]
) -> None:
    from adapters.blob.batch import run_batch

    match = _BOUNDARY.search(headers.get("content-type", ""))
    if match is None:
        raise errors.invalid_header("Content-Type", headers.get("content-type", ""))
    body = await read_body(receive, BATCH_LIMIT)
    boundary, payload = await run_batch(svc, scope, context, match.group(1), body)
    await reply(send, 202, [], payload, f"multipart/mixed; boundary={boundary}".encode())
