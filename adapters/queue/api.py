"""Queue Storage protocol handlers: raw ASGI, operations found from one table.

An operation is keyed by (method, path shape, variant): the shape is ``service``
(``/``), ``queue`` (``/q``), ``messages`` (``/q/messages``) or ``message``
(``/q/messages/id``); the variant is ``restype|comp`` (or ``peek`` for
``peekonly=true`` on messages).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.queue import xml
from adapters.queue.errors import (
    InvalidMetadata,
    InvalidResourceName,
    InvalidUri,
    MetadataTooLarge,
    OutOfRangeInput,
    QueueNotFound,
    UnsupportedHttpVerb,
    invalid_query_value,
    missing_query,
    out_of_range,
)
from adapters.queue.store import Queue, QueueStore
from controlplane.adapter import Operation, RequestContext, RequestTarget, Service, ServiceContext
from controlplane.gateway.http import header, read_body
from controlplane.periodic import Periodic

log = logging.getLogger(__name__)

SEVEN_DAYS = 7 * 24 * 3600
DEFAULT_TTL = SEVEN_DAYS
MAX_TTL = 2**31 - 1
MAX_RESULTS = 5000
BODY_LIMIT = 4 * 1024 * 1024
"""Raw request bodies past this are refused outright (a message body is at most ~64 KiB of text)."""
METADATA_LIMIT = 8 * 1024
PURGE_INTERVAL = 1.0

_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_INTEGER = re.compile(r"-?[0-9]{1,30}")
_METADATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_META_PREFIX = b"x-ms-meta-"

_XML = (b"content-type", b"application/xml")
_NO_CACHE = (b"cache-control", b"no-cache")

Handler = Callable[[dict, Callable, Callable, RequestContext], Awaitable[None]]

# (method, shape, variant) -> (operation, SAS permission letters, account-SAS resource type, handler)
ROUTES: dict[tuple[str, str, str], tuple[str, str, str, str]] = {
    ("GET", "service", "|list"): ("ListQueues", "l", "s", "list_queues"),
    ("GET", "service", "service|properties"): ("GetQueueServiceProperties", "r", "s", "get_properties"),
    ("PUT", "service", "service|properties"): ("SetQueueServiceProperties", "w", "s", "set_properties"),
    ("GET", "service", "service|stats"): ("GetQueueServiceStats", "r", "s", "get_stats"),
    ("PUT", "queue", "|"): ("CreateQueue", "cw", "c", "create_queue"),
    ("DELETE", "queue", "|"): ("DeleteQueue", "d", "c", "delete_queue"),
    ("GET", "queue", "|metadata"): ("GetQueueMetadata", "r", "c", "get_metadata"),
    ("HEAD", "queue", "|metadata"): ("GetQueueMetadata", "r", "c", "get_metadata"),
    ("PUT", "queue", "|metadata"): ("SetQueueMetadata", "w", "c", "set_metadata"),
    # Only the account owner may read or set a queue's ACL (see _OWNER_ONLY).
    ("GET", "queue", "|acl"): ("GetQueueACL", "", "c", "get_acl"),
    ("HEAD", "queue", "|acl"): ("GetQueueACL", "", "c", "get_acl"),
    ("PUT", "queue", "|acl"): ("SetQueueACL", "", "c", "set_acl"),
    ("POST", "messages", ""): ("PutMessage", "a", "o", "put_message"),
    ("GET", "messages", ""): ("GetMessages", "p", "o", "get_messages"),
    ("GET", "messages", "peek"): ("PeekMessages", "r", "o", "peek_messages"),
    ("DELETE", "messages", ""): ("ClearMessages", "d", "o", "clear_messages"),
    ("PUT", "message", ""): ("UpdateMessage", "u", "o", "update_message"),
    ("DELETE", "message", ""): ("DeleteMessage", "p", "o", "delete_message"),
}
_KNOWN = {(shape, variant) for _, shape, variant in ROUTES}
# Azure lets only the account key read or set stored access policies, never a SAS.
_OWNER_ONLY = frozenset({"GetQueueACL", "SetQueueACL"})


def split_path(path: str) -> tuple[str, str, str]:
    """(shape, queue, message id) of a resource path below the account."""
    path = path.strip("/")
    if not path:
        return "service", "", ""
    parts = path.split("/")
    count = len(parts)
    if count == 1:
        return "queue", parts[0], ""
    if parts[1] == "messages":
        if count == 2:
            return "messages", parts[0], ""
        if count == 3 and parts[2]:
            return "message", parts[0], parts[2]
    raise InvalidUri()


def _variant(shape: str, query: Mapping[str, str]) -> str:
    if shape == "messages" or shape == "message":
        return "peek" if shape == "messages" and query.get("peekonly", "").lower() == "true" else ""
    return f"{query.get('restype', '')}|{query.get('comp', '')}"


def check_queue_name(name: str) -> None:
    if not 3 <= len(name) <= 63:
        raise OutOfRangeInput()
    if not _QUEUE_NAME.fullmatch(name):
        raise InvalidResourceName()


def _int_query(query: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise missing_query(name)
        return default
    if not _INTEGER.fullmatch(raw):
        raise invalid_query_value(name, raw)
    value = int(raw)
    if not low <= value <= high:
        raise out_of_range(name, raw, low, high)
    return value


def _metadata(scope: dict) -> dict[str, str]:
    metadata: dict[str, str] = {}
    size = 0
    for key, value in scope["headers"]:
        if key.startswith(_META_PREFIX):
            name = key[len(_META_PREFIX) :].decode("latin-1")
            if not _METADATA_NAME.fullmatch(name):
                raise InvalidMetadata(details={"MetadataName": name})
            text = value.decode("latin-1").strip()
            size += len(name) + len(text)
            metadata[name] = text
    if size > METADATA_LIMIT:
        raise MetadataTooLarge()
    return metadata


async def _reply(send: Callable, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class QueueService(Service):
    auth_scheme = "storage"
    error_format = "xml"

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.store = QueueStore(context.state)
        self._purger = Periodic("queue-purge", PURGE_INTERVAL, self.store.purge_all_expired)
        self._handlers: dict[str, Handler] = {name: getattr(self, method) for name, _, _, method in ROUTES.values()}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.load()
        self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()

    async def reset(self) -> None:
        self.store.reset()

    def health(self) -> dict[str, Any]:
        return self.store.counts()

    def stored_access_policy(self, account: str, resource: str, identifier: str) -> Mapping[str, str] | None:
        return self.store.access_policy(account, resource, identifier)

    # -- routing ---------------------------------------------------------------------------

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        shape, queue, _ = split_path(target.path)
        variant = _variant(shape, query)
        route = ROUTES.get((method, shape, variant))
        if route is None:
            if (shape, variant) in _KNOWN:
                raise UnsupportedHttpVerb()
            raise InvalidUri()
        name, permission, resource_type, _ = route
        return Operation(
            name=name,
            sas_permission=permission,
            resource_type=resource_type,
            resource=queue,
            sas_allowed=name not in _OWNER_ONLY,
        )

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        context: RequestContext = scope["localzure"]
        await self._handlers[context.operation.name](scope, receive, send, context)

    def _queue(self, context: RequestContext) -> Queue:
        name = context.operation.resource
        queue = self.store.queues.get((context.target.account, name))
        if queue is None:
            check_queue_name(name)
            raise QueueNotFound()
        return queue

    # -- service ---------------------------------------------------------------------------

    async def list_queues(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        query = context.query
        limit = _int_query(query, "maxresults", MAX_RESULTS, 1, MAX_RESULTS)
        prefix = query.get("prefix")
        marker = query.get("marker")
        account = context.target.account
        start = marker or ""
        if start.startswith(f"/{account}/"):
            start = start[len(account) + 2 :]
        queues, next_name = self.store.page(account, prefix or "", start, limit)
        include = {part.strip() for part in query.get("include", "").split(",")}
        body = xml.queue_list(
            self._endpoint(scope, context),
            queues,
            prefix,
            marker,
            query.get("maxresults"),
            f"/{account}/{next_name}" if next_name else "",
            "metadata" in include,
        )
        await _reply(send, 200, [_XML], body)

    @staticmethod
    def _endpoint(scope: dict, context: RequestContext) -> str:
        host = header(scope, b"host") or "localhost"
        scheme = scope.get("scheme", "http")
        if context.target.path_style:
            return f"{scheme}://{host}/{context.target.account}"
        return f"{scheme}://{host}/"

    async def get_properties(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = xml.service_properties(self.store.get_service_properties(context.target.account))
        await _reply(send, 200, [_XML], body)

    async def set_properties(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        account = context.target.account
        body = await read_body(receive, BODY_LIMIT)
        properties = xml.parse_service_properties(body, self.store.get_service_properties(account))
        self.store.set_service_properties(account, properties)
        await _reply(send, 202, [])

    async def get_stats(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        await _reply(send, 200, [_XML], xml.service_stats(self.store.clock()))

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        name = context.operation.resource
        check_queue_name(name)
        created = self.store.create(context.target.account, name, _metadata(scope))
        await _reply(send, 201 if created else 204, [])

    async def delete_queue(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        self.store.delete(queue.account, queue.name)
        await _reply(send, 204, [])

    async def get_metadata(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        headers: list[tuple[bytes, bytes]] = []
        headers.append((b"x-ms-approximate-messages-count", str(self.store.message_count(queue)).encode()))
        headers.append(_NO_CACHE)
        headers.extend((f"x-ms-meta-{k}".encode(), v.encode("latin-1", "replace")) for k, v in queue.metadata.items())
        await _reply(send, 200, headers)

    async def set_metadata(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        self.store.set_metadata(queue, _metadata(scope))
        await _reply(send, 204, [])

    async def get_acl(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        body = xml.signed_identifiers(queue.acl)
        await _reply(send, 200, [_XML, _NO_CACHE], b"" if scope["method"] == "HEAD" else body)

    async def set_acl(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = await read_body(receive, BODY_LIMIT)
        # Looked up after the last await: a queue deleted meanwhile must not be written again.
        queue = self._queue(context)
        self.store.set_acl(queue, xml.parse_signed_identifiers(body))
        await _reply(send, 204, [])

    # -- messages --------------------------------------------------------------------------

    async def put_message(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = await read_body(receive, BODY_LIMIT)
        queue = self._queue(context)
        query = context.query
        ttl = _int_query(query, "messagettl", DEFAULT_TTL, -1, MAX_TTL)
        if ttl == 0:
            raise out_of_range("messagettl", query["messagettl"], -1, MAX_TTL)
        visibility = _int_query(query, "visibilitytimeout", 0, 0, SEVEN_DAYS)
        if ttl != -1 and visibility >= ttl:
            raise invalid_query_value(
                "visibilitytimeout", query["visibilitytimeout"], "messagettl must be greater than visibilitytimeout."
            )
        message = self.store.put_message(queue, xml.parse_message_text(body), visibility, ttl)
        await _reply(send, 201, [_XML], xml.sent_messages(message))

    async def get_messages(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        query = context.query
        count = _int_query(query, "numofmessages", 1, 1, 32)
        visibility = _int_query(query, "visibilitytimeout", 30, 1, SEVEN_DAYS)
        messages = self.store.get_messages(queue, count, visibility)
        await _reply(send, 200, [_XML, _NO_CACHE], xml.received_messages(messages))

    async def peek_messages(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        count = _int_query(context.query, "numofmessages", 1, 1, 32)
        messages = self.store.peek_messages(queue, count)
        await _reply(send, 200, [_XML, _NO_CACHE], xml.peeked_messages(messages))

    async def clear_messages(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        self.store.clear(self._queue(context))
        await _reply(send, 204, [])

    async def update_message(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = await read_body(receive, BODY_LIMIT)
        queue = self._queue(context)
        query = context.query
        receipt = _receipt(query)
        visibility = _int_query(query, "visibilitytimeout", None, 0, SEVEN_DAYS)
        text = xml.parse_message_text(body) if body.strip() else None
        message_id = split_path(context.target.path)[2]
        existing = queue.messages.get(message_id)
        if existing is not None and self.store.clock() + visibility > existing.expires:
            raise invalid_query_value(
                "visibilitytimeout", query["visibilitytimeout"], "The visibility timeout is past the expiry time."
            )
        message = self.store.update_message(queue, message_id, receipt, visibility, text)
        headers: list[tuple[bytes, bytes]] = []
        headers.append((b"x-ms-popreceipt", message.receipt.encode()))
        headers.append((b"x-ms-time-next-visible", xml.http_date(message.visible).encode()))
        await _reply(send, 204, headers)

    async def delete_message(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        queue = self._queue(context)
        receipt = _receipt(context.query)
        self.store.delete_message(queue, split_path(context.target.path)[2], receipt)
        await _reply(send, 204, [])


def _receipt(query: Mapping[str, str]) -> str:
    receipt = query.get("popreceipt")
    if receipt is None:
        raise missing_query("popreceipt")
    if not receipt:
        raise invalid_query_value("popreceipt", receipt)
    return receipt
