"""Blob Batch: a multipart/mixed body of Delete Blob and Set Blob Tier sub-requests, each run
through the same handlers as a single request and answered in one multipart response.

Sub-requests run with the batch request's own authorization (their individual signatures
are not re-verified)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.blob import errors
from controlplane.adapter import RequestContext, RequestTarget
from controlplane.gateway.errors import AzureError, render_error

if TYPE_CHECKING:
    from adapters.blob.api import BlobService

_ALLOWED = {"DeleteBlob", "SetBlobTier"}
MAX_BATCH = 256
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            412: "Precondition Failed"}  # fmt: skip


def _parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.strip(b"\r\n"))
    return parts


def _parse_part(part: bytes) -> tuple[str, str, list[tuple[bytes, bytes]], str]:
    """(method, raw target, headers, content id) of one application/http part."""
    text = part.replace(b"\r\n", b"\n")
    outer, _, inner = text.partition(b"\n\n")
    content_id = ""
    for line in outer.split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-id":
            content_id = value.strip().decode("latin-1")
    head, _, _ = inner.partition(b"\n\n")
    lines = head.split(b"\n")
    request_line = lines[0].decode("latin-1").split(" ")
    if len(request_line) < 2:
        raise errors.InvalidXmlDocument("The batch request body is malformed.", code="InvalidInput")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip():
            headers.append((name.strip().lower(), value.strip()))
    return request_line[0].upper(), request_line[1], headers, content_id


async def run_batch(
    svc: BlobService, scope: dict, context: RequestContext, boundary: str, body: bytes
) -> tuple[str, bytes]:
    from adapters.blob.api import _HANDLERS
    from adapters.blob.protocol import headers_of

    parts = _parts(body, boundary)
    if not parts or len(parts) > MAX_BATCH:
        raise errors.AzureError("The batch operation must hold 1 to 256 sub-requests.", status=400, code="InvalidInput")
    out_boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for part in parts:
        method, raw_target, sub_headers, content_id = _parse_part(part)
        split = urlsplit(raw_target)
        path = unquote(split.path)
        if context.target.path_style:
            path = "/" + path.lstrip("/").partition("/")[2]
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        captured: dict = {"status": 500, "headers": [], "body": b""}

        async def capture(message: dict, captured: dict = captured) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", ()))
            else:
                captured["body"] += message.get("body", b"")

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        request_id = str(uuid.uuid4())
        try:
            target = RequestTarget(context.target.service, context.target.account, path, context.target.path_style)
            operation = svc.resolve(method, target, query)
            if operation.name not in _ALLOWED:
                raise errors.AzureError("The batch operation is not supported.", status=400, code="InvalidInput")
            sub_scope = {
                **scope,
                "method": method,
                "path": path,
                "headers": sub_headers,
                "query_string": split.query.encode(),
            }
            sub_context = RequestContext(request_id, target, operation, query, context.auth)
            sub_scope["localzure"] = sub_context
            await _HANDLERS[operation.name](svc, sub_scope, receive, capture, sub_context, headers_of(sub_scope))
        except AzureError as error:
            status, headers, payload = render_error(error, "xml", request_id)
            captured = {"status": status, "headers": headers, "body": payload}
        lines = [
            f"--{out_boundary}",
            "Content-Type: application/http",
            f"Content-ID: {content_id}",
            "",
            f"HTTP/1.1 {captured['status']} {_REASONS.get(captured['status'], 'Error')}",
        ]
        seen_request_id = False
        for name, value in captured["headers"]:
            if name == b"x-ms-request-id":
                seen_request_id = True
            lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        if not seen_request_id:
            lines.append(f"x-ms-request-id: {request_id}")
        lines.append("x-ms-version: 2025-11-05")
        lines.append("")
        chunks.append("\r\n".join(lines).encode() + b"\r\n" + captured["body"])
    payload = b"\r\n".join(chunks) + f"\r\n--{out_boundary}--\r\n".encode()
    return out_boundary, payload
