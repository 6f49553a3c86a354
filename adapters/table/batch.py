"""Entity group transactions (``POST /$batch``): one changeset, one partition, all or nothing.

Every operation is checked against the current state before any is applied; the first one
that fails makes the whole changeset fail, and the response names its index the way Azure
does (``"<index>:<message>"``), which is where azure-data-tables reads
``TableTransactionError.index`` from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson

from adapters.table.edm import check_key, parse_entity, require_keys
from adapters.table.errors import (
    AuthorizationFailure,
    AzureError,
    CommandsInBatchActOnDifferentPartitions,
    InvalidDuplicateRow,
    InvalidInput,
    RequestBodyTooLarge,
)
from adapters.table.operations import DELETE, INSERT, MERGE, REPLACE, Write, apply_write, check_write
from adapters.table.render import CONTENT_TYPES, edit_link, entity_json, metadata_level
from adapters.table.store import Table
from controlplane.adapter import RequestContext

if TYPE_CHECKING:
    from adapters.table.api import TableService

MAX_OPERATIONS = 100
MAX_BATCH_BYTES = 4 * 1024 * 1024
_KINDS = {"POST": INSERT, "PUT": REPLACE, "MERGE": MERGE, "PATCH": MERGE, "DELETE": DELETE}
_PERMISSIONS = {INSERT: "a", REPLACE: "u", MERGE: "u", DELETE: "d"}


@dataclass
class SubRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def _boundary(content_type: str) -> bytes:
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.strip().lower() == "boundary" and value:
            return value.strip().strip('"').encode()
    raise InvalidInput("The batch request must be multipart/mixed with a boundary.")


def _split(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.strip(b"\r\n"))
    return parts


def _head_and_body(block: bytes) -> tuple[list[str], bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = block.partition(separator)
        if found:
            return head.decode("utf-8", "replace").splitlines(), rest
    return block.decode("utf-8", "replace").splitlines(), b""


def _header_map(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_batch(content_type: str, body: bytes) -> list[SubRequest]:
    """The operations of a batch body's changeset, in order."""
    requests: list[SubRequest] = []
    for part in _split(body, _boundary(content_type)):
        head, content = _head_and_body(part)
        part_type = _header_map(head).get("content-type", "")
        if not part_type.lower().startswith("multipart/mixed"):
            raise InvalidInput("Only changesets are supported in a batch request.")
        if requests:
            raise InvalidInput("A batch request may hold only one changeset.")
        for item in _split(content, _boundary(part_type)):
            _, http = _head_and_body(item)
            lines, payload = _head_and_body(http)
            if not lines:
                raise InvalidInput("A batch operation is empty.")
            method, _, rest = lines[0].partition(" ")
            url = rest.rsplit(" ", 1)[0] if rest.endswith(("HTTP/1.1", "HTTP/1.0")) else rest
            headers = _header_map(lines[1:])
            method = headers.get("x-http-method", method).upper()
            requests.append(SubRequest(method, url.strip(), headers, payload.strip(b"\r\n")))
    return requests


@dataclass
class Planned:
    request: SubRequest
    table: Table
    write: Write


def _plan(service: TableService, context: RequestContext, requests: list[SubRequest]) -> list[Planned]:
    """Check every operation; raise (index, error) for the first that fails."""
    from adapters.table.api import check_range, require_permissions, split_path

    account = context.target.account
    sas_table = context.operation.resource.lower()
    partition: str | None = None
    seen: set[tuple[str, str]] = set()
    planned: list[Planned] = []
    table_name: str | None = None
    for index, request in enumerate(requests):
        try:
            kind = _KINDS.get(request.method)
            if kind is None:
                raise InvalidInput(f"The HTTP method {request.method} is not allowed in a changeset.")
            path = unquote(urlsplit(request.url).path)
            shape, name, key = split_path("/" + path.rsplit("/", 1)[-1])
            if shape not in ("entities", "entity") or (kind == INSERT) != (shape == "entities"):
                raise InvalidInput("The batch operation's request URI is not valid.")
            if table_name is None:
                table_name = name
            elif name.lower() != table_name.lower():
                raise InvalidInput("All operations in a batch must address the same table.")
            if context.operation.resource and name.lower() != sas_table:
                raise AuthorizationFailure()
            table = service.table(account, name)
            if_match = request.headers.get("if-match")
            props: dict[str, Any] = {}
            if kind != DELETE:
                try:
                    document = orjson.loads(request.body)
                except orjson.JSONDecodeError:
                    raise InvalidInput("The operation's body is not valid JSON.") from None
                partition_key, row_key, props = parse_entity(document)
                if key is None:
                    key = require_keys(partition_key, row_key)
                elif (partition_key is not None and partition_key != key[0]) or (
                    row_key is not None and row_key != key[1]
                ):
                    raise InvalidInput("The keys in the body do not match the keys in the request URI.")
            assert key is not None
            if kind in (REPLACE, MERGE):
                check_key("PartitionKey", key[0])
                check_key("RowKey", key[1])
            permission = _PERMISSIONS[kind] + ("a" if kind in (REPLACE, MERGE) and if_match is None else "")
            require_permissions(context.auth, permission)
            check_range(context.auth, key)
            if partition is None:
                partition = key[0]
            elif key[0] != partition:
                raise CommandsInBatchActOnDifferentPartitions()
            if key in seen:
                raise InvalidDuplicateRow()
            seen.add(key)
            if kind == DELETE:
                if_match = if_match or "*"
            write = check_write(service.store, table, kind, key, props, if_match)
            planned.append(Planned(request, table, write))
        except AzureError as error:
            raise BatchFailure(index, error) from None
    return planned


class BatchFailure(Exception):
    def __init__(self, index: int, error: AzureError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def execute(service: TableService, context: RequestContext, content_type: str, body: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) of the batch response."""
    if len(body) > MAX_BATCH_BYTES:
        raise RequestBodyTooLarge()
    requests = parse_batch(content_type, body)
    if not requests:
        raise InvalidInput("The batch request holds no operations.")
    batch_boundary = f"batchresponse_{uuid.uuid4()}"
    changeset_boundary = f"changesetresponse_{uuid.uuid4()}"
    try:
        if len(requests) > MAX_OPERATIONS:
            raise BatchFailure(
                MAX_OPERATIONS,
                InvalidInput(
                    f"The batch request operation exceeds the maximum {MAX_OPERATIONS} changes per change set."
                ),
            )
        planned = _plan(service, context, requests)
    except BatchFailure as failure:
        parts = [_error_part(failure, context.request_id)]
    else:
        # Every write first (none can fail), then the responses: the changeset lands whole.
        written = [apply_write(service.store, item.table, item.write) for item in planned]
        parts = [_success_part(item, entity) for item, entity in zip(planned, written, strict=True)]
    payload = _multipart(batch_boundary, changeset_boundary, parts)
    return 202, f"multipart/mixed; boundary={batch_boundary}", payload


def _response(status: int, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "X-Content-Type-Options: nosniff",
        "Cache-Control: no-cache",
        "DataServiceVersion: 3.0;",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _error_part(failure: BatchFailure, request_id: str) -> bytes:
    error = failure.error
    time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    text = f"{failure.index}:{error.message}\nRequestId:{request_id}\nTime:{time}"
    body = orjson.dumps({"odata.error": {"code": error.code, "message": {"lang": "en-US", "value": text}}})
    headers = [("Content-Type", CONTENT_TYPES[1].decode())]
    return _response(error.status, headers, body)


def _success_part(item: Planned, entity: Any) -> bytes:
    write = item.write
    if entity is None:
        return _response(204, [])
    headers = [("ETag", entity.etag)]
    if write.kind != INSERT:
        return _response(204, headers)
    # The operation's own absolute URL, less its last segment, is the account URL.
    base = item.request.url.split("?", 1)[0].rsplit("/", 1)[0]
    location = f"{base}/{edit_link(item.table.name, write.key[0], write.key[1])}"
    headers.append(("Location", location))
    prefer = item.request.headers.get("prefer", "")
    if "return-no-content" in prefer:
        headers += [("Preference-Applied", "return-no-content"), ("DataServiceId", location)]
        return _response(204, headers)
    level = metadata_level(item.request.headers.get("accept"), None)
    document = entity_json(entity, level, None, base, item.table.name)
    if level:
        document = {"odata.metadata": f"{base}/$metadata#{item.table.name}/@Element", **document}
    headers.append(("Content-Type", CONTENT_TYPES[level].decode()))
    return _response(201, headers, orjson.dumps(document))


def _multipart(batch_boundary: str, changeset_boundary: str, parts: list[bytes]) -> bytes:
    chunks = [f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset_boundary}\r\n\r\n".encode()]
    for part in parts:
        chunks.append(
            f"--{changeset_boundary}\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n".encode()
        )
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{changeset_boundary}--\r\n--{batch_boundary}--\r\n".encode())
    return b"".join(chunks)
