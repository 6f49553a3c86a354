"""Table Storage protocol handlers: raw ASGI, operations found from one table.

An operation is keyed by (method, path shape, variant): the shape is ``service`` (``/``),
``tables`` (``/Tables``), ``table`` (``/Tables('t')``), ``entities`` (``/t`` or ``/t()``),
``entity`` (``/t(PartitionKey='p',RowKey='r')``) or ``batch`` (``/$batch``); the variant is
``restype|comp``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from adapters.table import batch as batch_module
from adapters.table import xml
from adapters.table.edm import FULL, check_key, parse_entity, require_keys
from adapters.table.errors import (
    AuthorizationFailure,
    AuthorizationPermissionMismatch,
    InvalidInput,
    InvalidResourceName,
    InvalidUri,
    OutOfRangeInput,
    ResourceNotFound,
    TableNotFound,
    UnsupportedHttpVerb,
    invalid_query,
)
from adapters.table.filter import compile_filter
from adapters.table.operations import DELETE, INSERT, MERGE, REPLACE, apply_write, check_write
from adapters.table.render import (
    CONTENT_TYPES,
    decode_token,
    edit_link,
    encode_token,
    entity_json,
    metadata_level,
    parse_select,
)
from adapters.table.store import Key, Table, TableStore
from controlplane.adapter import Operation, RequestContext, RequestTarget, Service, ServiceContext
from controlplane.gateway.http import header, read_body

MAX_PAGE = 1000
BODY_LIMIT = 8 * 1024 * 1024
"""Raw request bodies past this are refused (an entity is at most 1 MiB, a batch 4 MiB)."""

_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_RESERVED = {"tables"}
_XML = (b"content-type", b"application/xml")
_DSV = (b"dataserviceversion", b"3.0;")
_NO_CONTENT = (b"preference-applied", b"return-no-content")
_CONTENT = (b"preference-applied", b"return-content")

Handler = Callable[[dict, Callable, Callable, RequestContext], Awaitable[None]]

# (method, shape, variant) -> (operation, SAS permission letters, account-SAS resource type, handler)
ROUTES: dict[tuple[str, str, str], tuple[str, str, str, str]] = {
    ("GET", "service", "service|properties"): ("GetTableServiceProperties", "r", "s", "get_properties"),
    ("PUT", "service", "service|properties"): ("SetTableServiceProperties", "w", "s", "set_properties"),
    ("GET", "service", "service|stats"): ("GetTableServiceStats", "r", "s", "get_stats"),
    ("GET", "tables", "|"): ("QueryTables", "l", "s", "query_tables"),
    ("POST", "tables", "|"): ("CreateTable", "acw", "c", "create_table"),
    ("DELETE", "table", "|"): ("DeleteTable", "d", "c", "delete_table"),
    # Only the account owner may read or set a table's ACL: the handler refuses any SAS.
    ("GET", "entities", "|acl"): ("GetTableACL", "", "c", "get_acl"),
    ("HEAD", "entities", "|acl"): ("GetTableACL", "", "c", "get_acl"),
    ("PUT", "entities", "|acl"): ("SetTableACL", "", "c", "set_acl"),
    ("GET", "entities", "|"): ("QueryEntities", "r", "o", "query_entities"),
    ("POST", "entities", "|"): ("InsertEntity", "a", "o", "insert_entity"),
    ("GET", "entity", "|"): ("QueryEntity", "r", "o", "get_entity"),
    ("PUT", "entity", "|"): ("UpdateEntity", "u", "o", "update_entity"),
    ("MERGE", "entity", "|"): ("MergeEntity", "u", "o", "merge_entity"),
    ("PATCH", "entity", "|"): ("MergeEntity", "u", "o", "merge_entity"),
    ("DELETE", "entity", "|"): ("DeleteEntity", "d", "o", "delete_entity"),
    # Each operation inside is checked against the SAS by the handler.
    ("POST", "batch", "|"): ("EntityGroupTransaction", "", "o", "batch"),
}
_KNOWN = {(shape, variant) for _, shape, variant in ROUTES}


def parse_keys(text: str) -> Key:
    """``PartitionKey='a',RowKey='b'`` (either order, quotes doubled inside) as a key."""
    values: dict[str, str] = {}
    i, size = 0, len(text)
    while i < size:
        eq = text.find("=", i)
        if eq < 0 or eq + 1 >= size or text[eq + 1] != "'":
            raise InvalidInput("The key in the request URI is not valid.")
        name = text[i:eq].strip()
        j, parts = eq + 2, []
        while True:
            quote = text.find("'", j)
            if quote < 0:
                raise InvalidInput("The key in the request URI is not valid.")
            if text.startswith("''", quote):
                parts.append(text[j : quote + 1])
                j = quote + 2
                continue
            parts.append(text[j:quote])
            j = quote + 1
            break
        values[name] = "".join(parts)
        i = j
        if i < size:
            if text[i] != ",":
                raise InvalidInput("The key in the request URI is not valid.")
            i += 1
    if set(values) != {"PartitionKey", "RowKey"}:
        raise InvalidInput(
            "The number of keys specified in the URI does not match number of key properties for the resource."
        )
    return values["PartitionKey"], values["RowKey"]


def split_path(path: str) -> tuple[str, str, Key | None]:
    """(shape, table name, entity key) of a resource path below the account."""
    path = path.strip("/")
    if not path:
        return "service", "", None
    if path == "$batch":
        return "batch", "", None
    name, paren, rest = path.partition("(")
    if "/" in name:
        raise InvalidUri()
    if paren and not rest.endswith(")"):
        raise InvalidUri()
    inner = rest[:-1].strip()
    if name in ("Tables", "tables"):
        if not inner:
            return "tables", "", None
        if len(inner) >= 2 and inner[0] == inner[-1] == "'":
            return "table", inner[1:-1].replace("''", "'"), None
        raise InvalidUri()
    if not inner:
        return "entities", name, None
    return "entity", name, parse_keys(inner)


def check_table_name(name: str) -> None:
    if not 3 <= len(name) <= 63:
        raise OutOfRangeInput()
    if not _TABLE_NAME.fullmatch(name) or name.lower() in _RESERVED:
        raise InvalidResourceName()


def _int_query(query: Mapping[str, str], name: str) -> int:
    raw = query.get(name)
    if raw is None:
        return MAX_PAGE
    if not (raw.strip().isascii() and raw.strip().isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid_query(name, raw)
    return int(raw)


def _base_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    for key, value in scope["headers"]:
        if key == b"x-ms-client-request-id":
            return [(b"x-ms-client-request-id", value), _DSV]
    return [_DSV]


async def _reply(send: Callable, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("The request body is not valid JSON.") from None


def _prefer(scope: dict, default_content: bool) -> bool:
    """True when the response should carry the entity (``Prefer: return-content``)."""
    value = header(scope, b"prefer")
    if value is None:
        return default_content
    return "return-no-content" not in value


def base_url(scope: dict, target: RequestTarget) -> str:
    host = header(scope, b"host") or "localhost"
    scheme = scope.get("scheme", "http")
    return f"{scheme}://{host}/{target.account}" if target.path_style else f"{scheme}://{host}"


def check_range(auth: Any, key: Key) -> None:
    table_range = getattr(auth, "table_range", None)
    if table_range is not None and not table_range.contains(key[0], key[1]):
        raise AuthorizationFailure()


def require_permissions(auth: Any, letters: str) -> None:
    sas = getattr(auth, "sas", None)
    if sas is not None and not set(letters) <= set(sas.permissions):
        raise AuthorizationPermissionMismatch()


class TableService(Service):
    auth_scheme = "storage"
    error_format = "table-json"

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.store = TableStore(context.state)
        self._handlers: dict[str, Handler] = {name: getattr(self, method) for name, _, _, method in ROUTES.values()}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.load()

    async def reset(self) -> None:
        self.store.reset()

    def health(self) -> dict[str, Any]:
        return self.store.counts()

    def stored_access_policy(self, account: str, resource: str, identifier: str) -> Mapping[str, str] | None:
        return self.store.access_policy(account, resource, identifier)

    # -- routing ---------------------------------------------------------------------------

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        shape, table, _ = split_path(target.path)
        variant = f"{query.get('restype', '')}|{query.get('comp', '')}"
        route = ROUTES.get((method, shape, variant))
        if route is None:
            if (shape, variant) in _KNOWN:
                raise UnsupportedHttpVerb()
            raise InvalidUri()
        name, permission, resource_type, _ = route
        if shape == "batch":
            # A table SAS names its table in ``tn``; the batch body must address only that one.
            table = query.get("tn", "")
        return Operation(name=name, sas_permission=permission, resource_type=resource_type, resource=table)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        context: RequestContext = scope["localzure"]
        await self._handlers[context.operation.name](scope, receive, send, context)

    def table(self, account: str, name: str) -> Table:
        table = self.store.table(account, name)
        if table is None:
            check_table_name(name)
            raise TableNotFound()
        return table

    def _table(self, context: RequestContext) -> Table:
        return self.table(context.target.account, context.operation.resource)

    # -- service ---------------------------------------------------------------------------

    async def get_properties(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        document = self.store.service_properties.get(context.target.account) or xml.DEFAULT_SERVICE_PROPERTIES
        await _reply(send, 200, [*_base_headers(scope), _XML], document.encode())

    async def set_properties(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        account = context.target.account
        body = await read_body(receive, BODY_LIMIT)
        document = xml.merge_service_properties(body, self.store.service_properties.get(account))
        self.store.set_service_properties(account, document)
        await _reply(send, 202, _base_headers(scope))

    async def get_stats(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = (
            b'<?xml version="1.0" encoding="utf-8"?><StorageServiceStats><GeoReplication>'
            b"<Status>live</Status><LastSyncTime></LastSyncTime></GeoReplication></StorageServiceStats>"
        )
        await _reply(send, 200, [*_base_headers(scope), _XML], body)

    # -- tables ----------------------------------------------------------------------------

    async def query_tables(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        query = context.query
        plan = compile_filter(query.get("$filter", ""))
        top = _int_query(query, "$top")
        start = query.get("NextTableName") or ""
        if start:
            start = decode_token("NextTableName", start)
        level = metadata_level(header(scope, b"accept"), query.get("$format"))
        base = base_url(scope, context.target)
        predicate = plan.predicate
        rows: list[dict[str, Any]] = []
        next_name = None
        for table in self.store.list_tables(context.target.account, start):
            if predicate is not None and not predicate(table):
                continue
            if len(rows) == top:
                next_name = table.name
                break
            row: dict[str, Any] = {}
            if level == FULL:
                row["odata.type"] = f"{context.target.account}.Tables"
                row["odata.id"] = f"{base}/Tables('{table.name}')"
                row["odata.editLink"] = f"Tables('{table.name}')"
            row["TableName"] = table.name
            rows.append(row)
        document: dict[str, Any] = {"value": rows}
        if level:
            document = {"odata.metadata": f"{base}/$metadata#Tables", "value": rows}
        headers = [*_base_headers(scope), (b"content-type", CONTENT_TYPES[level])]
        if next_name is not None:
            headers.append((b"x-ms-continuation-nexttablename", encode_token(next_name).encode()))
        await _reply(send, 200, headers, orjson.dumps(document))

    async def create_table(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = _json_body(await read_body(receive, BODY_LIMIT))
        name = body.get("TableName") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise InvalidInput("The TableName property is required.")
        check_table_name(name)
        self.store.create_table(context.target.account, name)
        headers = _base_headers(scope)
        base = base_url(scope, context.target)
        headers.append((b"location", f"{base}/Tables('{name}')".encode()))
        if not _prefer(scope, True):
            headers.append(_NO_CONTENT)
            headers.append((b"dataserviceid", f"{base}/Tables('{name}')".encode()))
            await _reply(send, 204, headers)
            return
        level = metadata_level(header(scope, b"accept"), context.query.get("$format"))
        document: dict[str, Any] = {}
        if level:
            document["odata.metadata"] = f"{base}/$metadata#Tables/@Element"
        if level == FULL:
            document["odata.type"] = f"{context.target.account}.Tables"
            document["odata.id"] = f"{base}/Tables('{name}')"
            document["odata.editLink"] = f"Tables('{name}')"
        document["TableName"] = name
        if header(scope, b"prefer") is not None:
            headers.append(_CONTENT)
        headers.append((b"content-type", CONTENT_TYPES[level]))
        await _reply(send, 201, headers, orjson.dumps(document))

    async def delete_table(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        table = self.store.table(context.target.account, context.operation.resource)
        if table is None:
            check_table_name(context.operation.resource)
            raise ResourceNotFound()
        self.store.delete_table(table)
        await _reply(send, 204, _base_headers(scope))

    async def get_acl(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        _owner_only(context)
        table = self._table(context)
        body = b"" if scope["method"] == "HEAD" else xml.signed_identifiers(table.acl)
        await _reply(send, 200, [*_base_headers(scope), _XML], body)

    async def set_acl(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        _owner_only(context)
        table = self._table(context)
        acl = xml.parse_signed_identifiers(await read_body(receive, BODY_LIMIT))
        self.store.set_acl(table, acl)
        await _reply(send, 204, _base_headers(scope))

    # -- entities --------------------------------------------------------------------------

    async def query_entities(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        table = self._table(context)
        query = context.query
        plan = compile_filter(query.get("$filter", ""))
        top = _int_query(query, "$top")
        select = parse_select(query.get("$select"))
        resume: Key | None = None
        next_pk = query.get("NextPartitionKey")
        if next_pk:
            next_rk = query.get("NextRowKey")
            resume = (
                decode_token("NextPartitionKey", next_pk),
                decode_token("NextRowKey", next_rk) if next_rk else "",
            )
        table_range = getattr(context.auth, "table_range", None)
        found, next_key = self.store.query(table, plan, top, resume, table_range)
        level = metadata_level(header(scope, b"accept"), query.get("$format"))
        base = base_url(scope, context.target)
        values = [entity_json(e, level, select, base, table.name) for e in found]
        document: dict[str, Any] = {"value": values}
        if level:
            document = {"odata.metadata": f"{base}/$metadata#{table.name}", "value": values}
        headers = [*_base_headers(scope), (b"content-type", CONTENT_TYPES[level])]
        if next_key is not None:
            headers.append((b"x-ms-continuation-nextpartitionkey", encode_token(next_key[0]).encode()))
            headers.append((b"x-ms-continuation-nextrowkey", encode_token(next_key[1]).encode()))
        await _reply(send, 200, headers, orjson.dumps(document))

    async def get_entity(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        table = self._table(context)
        key = split_path(context.target.path)[2]
        assert key is not None
        check_range(context.auth, key)
        entity = self.store.get(table, key)
        level = metadata_level(header(scope, b"accept"), context.query.get("$format"))
        base = base_url(scope, context.target)
        select = parse_select(context.query.get("$select"))
        document = entity_json(entity, level, select, base, table.name)
        if level:
            document = {"odata.metadata": f"{base}/$metadata#{table.name}/@Element", **document}
        headers = [*_base_headers(scope), (b"content-type", CONTENT_TYPES[level]), (b"etag", entity.etag.encode())]
        await _reply(send, 200, headers, orjson.dumps(document))

    async def insert_entity(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        table = self._table(context)
        partition_key, row_key, props = parse_entity(_json_body(await read_body(receive, BODY_LIMIT)))
        key = require_keys(partition_key, row_key)
        check_range(context.auth, key)
        entity = apply_write(self.store, table, check_write(self.store, table, INSERT, key, props, None))
        assert entity is not None
        base = base_url(scope, context.target)
        headers = _base_headers(scope)
        headers.append((b"etag", entity.etag.encode()))
        location = f"{base}/{edit_link(table.name, key[0], key[1])}"
        headers.append((b"location", location.encode()))
        if not _prefer(scope, True):
            headers.append(_NO_CONTENT)
            headers.append((b"dataserviceid", location.encode()))
            await _reply(send, 204, headers)
            return
        if header(scope, b"prefer") is not None:
            headers.append(_CONTENT)
        level = metadata_level(header(scope, b"accept"), context.query.get("$format"))
        document = entity_json(entity, level, None, base, table.name)
        if level:
            document = {"odata.metadata": f"{base}/$metadata#{table.name}/@Element", **document}
        headers.append((b"content-type", CONTENT_TYPES[level]))
        await _reply(send, 201, headers, orjson.dumps(document))

    async def update_entity(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        await self._change(scope, receive, send, context, REPLACE)

    async def merge_entity(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        await self._change(scope, receive, send, context, MERGE)

    async def delete_entity(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        table = self._table(context)
        key = split_path(context.target.path)[2]
        assert key is not None
        check_range(context.auth, key)
        if_match = header(scope, b"if-match") or "*"
        apply_write(self.store, table, check_write(self.store, table, DELETE, key, {}, if_match))
        await _reply(send, 204, _base_headers(scope))

    async def _change(self, scope: dict, receive: Callable, send: Callable, context: RequestContext, kind: str) -> None:
        table = self._table(context)
        key = split_path(context.target.path)[2]
        assert key is not None
        check_key("PartitionKey", key[0])
        check_key("RowKey", key[1])
        if_match = header(scope, b"if-match")
        if if_match is None:
            require_permissions(context.auth, "au")
        check_range(context.auth, key)
        partition_key, row_key, props = parse_entity(_json_body(await read_body(receive, BODY_LIMIT)))
        if (partition_key is not None and partition_key != key[0]) or (row_key is not None and row_key != key[1]):
            raise InvalidInput("The keys in the request body do not match the keys in the request URI.")
        entity = apply_write(self.store, table, check_write(self.store, table, kind, key, props, if_match))
        assert entity is not None
        await _reply(send, 204, [*_base_headers(scope), (b"etag", entity.etag.encode())])

    # -- batch -----------------------------------------------------------------------------

    async def batch(self, scope: dict, receive: Callable, send: Callable, context: RequestContext) -> None:
        body = await read_body(receive, BODY_LIMIT)
        content_type = header(scope, b"content-type") or ""
        status, content_type_out, payload = batch_module.execute(self, context, content_type, body)
        headers = [*_base_headers(scope), (b"content-type", content_type_out.encode())]
        await _reply(send, status, headers, payload)


def _owner_only(context: RequestContext) -> None:
    # Azure lets only the account key read or set stored access policies, never a SAS.
    if getattr(context.auth, "sas", None) is not None:
        raise AuthorizationPermissionMismatch()
