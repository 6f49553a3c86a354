"""A minimal management service behind an azure-core transport, for driving the real SDK.

``ServiceBusAdministrationClient`` (sync and aio) is built with a transport that hands each
request to :class:`FakeManagementService`, which answers with the render/parse functions
under test. Nothing goes over a socket: what is tested is the bytes the SDK sends and
what its deserializers make of ours. The routing here is test scaffolding, not the
adapter's HTTP layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from azure.core.pipeline.transport import AsyncHttpTransport, HttpRequest, HttpTransport
from azure.core.pipeline.transport._requests_asyncio import AsyncioRequestsTransportResponse
from azure.core.pipeline.transport._requests_basic import RequestsTransportResponse

from adapters.servicebus.entities import QueueProperties, RuleProperties, SubscriptionProperties, TopicProperties
from adapters.servicebus.management import parse, render, sas, xmlns
from adapters.servicebus.management.errors import (
    ERROR_CONTENT_TYPE,
    ManagementError,
    MessagingEntityAlreadyExists,
    MessagingEntityNotFound,
    Unauthorized,
    render_error,
)
from adapters.servicebus.management.render import MessageCounts

NAMESPACE = "sbemulatorns.localhost"
BASE_URL = f"https://{NAMESPACE}"
KEYS = {"RootManageSharedAccessKey": "SAS_KEY_VALUE"}
CONNECTION_STRING = (
    f"Endpoint=sb://{NAMESPACE};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"
)

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_SUBSCRIPTIONS = re.compile(r"(?P<topic>.+)/subscriptions(?:/(?P<sub>[^/]+)(?:/rules(?:/(?P<rule>[^/]+))?)?)?", re.I)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = xmlns.ENTRY_CONTENT_TYPE


@dataclass
class FakeManagementService:
    queues: dict[str, QueueProperties] = field(default_factory=dict)
    topics: dict[str, TopicProperties] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], SubscriptionProperties] = field(default_factory=dict)
    rules: dict[tuple[str, str, str], RuleProperties] = field(default_factory=dict)
    counts: MessageCounts = MessageCounts()
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Reply:
        self.requests.append((method, url, headers, body))
        try:
            self._authorize(headers)
            return self._route(method, url, headers, body)
        except ManagementError as exc:
            return Reply(exc.status, render_error(exc.status, exc.message), ERROR_CONTENT_TYPE)

    def _authorize(self, headers: dict[str, str]) -> None:
        try:
            audience = sas.validate(headers.get("Authorization", ""), KEYS)
        except sas.SasTokenError as exc:
            raise Unauthorized(exc.message) from None
        if not sas.audience_covers(audience, NAMESPACE, ""):
            raise Unauthorized("InvalidAudience: The token audience does not match.")

    def _route(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(url)
        path = unquote(parts.path).strip("/")
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        update = headers.get("If-Match") == "*"
        if path == "$namespaceinfo":
            return self._entry(render.namespace_entry("sbemulatorns", _EPOCH, _EPOCH, BASE_URL))
        if path.lower().startswith("$resources/"):
            return self._list_entities(path.split("/")[1].lower(), query)
        match = _SUBSCRIPTIONS.fullmatch(path)
        if match is None:
            return self._entity(method, path, body, update)
        topic, sub, rule = match["topic"], match["sub"], match["rule"]
        if sub is None:
            entries = [render.subscription_entry(s, self.counts, BASE_URL) for s in self.subscriptions.values()]
            return self._feed("Subscriptions", f"{topic}/Subscriptions", entries, query)
        if rule is None and path.lower().endswith("/rules"):
            entries = [render.rule_entry(r, BASE_URL) for k, r in self.rules.items() if k[:2] == (topic, sub)]
            return self._feed("Rules", render.subscription_path(topic, sub) + "/Rules", entries, query)
        if rule is None:
            return self._subscription(method, topic, sub, body, update)
        return self._rule(method, topic, sub, rule, body, update)

    def _entity(self, method: str, name: str, body: bytes, update: bool) -> Reply:
        existing = self.queues.get(name) or self.topics.get(name)
        if method == "GET":
            if existing is None:
                return Reply(200, render.render_not_found_feed(), xmlns.FEED_CONTENT_TYPE)
            return self._entry(self._entity_entry(existing))
        if method == "DELETE":
            if self.queues.pop(name, None) is None and self.topics.pop(name, None) is None:
                raise MessagingEntityNotFound.for_entity(f"sbemulatorns:Queue:{name}")
            return Reply(200)
        entity = parse.parse_entity(name, body)
        self._check_exists(existing, update, name)
        if existing is not None:
            entity = parse.merge_update(existing, entity)  # type: ignore[type-var]
        store = self.queues if isinstance(entity, QueueProperties) else self.topics
        store[name] = entity  # type: ignore[assignment]
        return self._entry(self._entity_entry(entity), 200 if update else 201)

    def _entity_entry(self, entity: QueueProperties | TopicProperties) -> render.AtomEntry:
        if isinstance(entity, QueueProperties):
            return render.queue_entry(entity, self.counts, BASE_URL)
        count = sum(1 for topic, _ in self.subscriptions if topic == entity.name)
        return render.topic_entry(entity, self.counts, count, BASE_URL)

    def _subscription(self, method: str, topic: str, name: str, body: bytes, update: bool) -> Reply:
        existing = self.subscriptions.get((topic, name))
        if method in ("GET", "DELETE"):
            if existing is None:
                raise MessagingEntityNotFound.for_entity(f"sbemulatorns:Topic:{topic}|{name}")
            if method == "DELETE":
                del self.subscriptions[(topic, name)]
                return Reply(200)
            return self._entry(render.subscription_entry(existing, self.counts, BASE_URL))
        subscription = parse.parse_subscription(topic, name, body)
        self._check_exists(existing, update, name)
        if existing is not None:
            subscription = parse.merge_update(existing, subscription)
        else:
            default_rule = parse.parse_default_rule(topic, name, body)
            self.rules[(topic, name, default_rule.name)] = default_rule
        self.subscriptions[(topic, name)] = subscription
        return self._entry(render.subscription_entry(subscription, self.counts, BASE_URL), 200 if update else 201)

    def _rule(self, method: str, topic: str, sub: str, name: str, body: bytes, update: bool) -> Reply:
        key = (topic, sub, name)
        existing = self.rules.get(key)
        if method in ("GET", "DELETE"):
            if existing is None:
                raise MessagingEntityNotFound.for_entity(f"sbemulatorns:Topic:{topic}|{sub}|{name}")
            if method == "DELETE":
                del self.rules[key]
                return Reply(200)
            return self._entry(render.rule_entry(existing, BASE_URL))
        rule = parse.parse_rule(topic, sub, name, body)
        self._check_exists(existing, update, name)
        if existing is not None:
            rule = parse.merge_update(existing, rule)
        self.rules[key] = rule
        return self._entry(render.rule_entry(rule, BASE_URL), 200 if update else 201)

    @staticmethod
    def _check_exists(existing: object, update: bool, name: str) -> None:
        if update and existing is None:
            raise MessagingEntityNotFound.for_entity(name)
        if not update and existing is not None:
            raise MessagingEntityAlreadyExists

    def _list_entities(self, kind: str, query: dict[str, str]) -> Reply:
        if kind == "queues":
            entries = [render.queue_entry(q, self.counts, BASE_URL) for q in self.queues.values()]
            return self._feed("Queues", "$Resources/queues", entries, query)
        entries = [self._entity_entry(t) for t in self.topics.values()]
        return self._feed("Topics", "$Resources/topics", entries, query)

    @staticmethod
    def _feed(title: str, collection: str, entries: list[render.AtomEntry], query: dict[str, str]) -> Reply:
        skip, top = int(query.get("$skip", 0)), int(query.get("$top", 100))
        page = entries[skip : skip + top]
        body = render.render_feed(
            title, BASE_URL, collection, page, skip=skip, top=top, has_more=skip + top < len(entries)
        )
        return Reply(200, body, xmlns.FEED_CONTENT_TYPE)

    @staticmethod
    def _entry(entry: render.AtomEntry, status: int = 200) -> Reply:
        return Reply(status, render.render_entry(entry))


def _requests_response(request: HttpRequest, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response._content = reply.body
    response.headers["Content-Type"] = reply.content_type
    response.headers["Content-Length"] = str(len(reply.body))
    response.request = requests.Request(request.method, request.url).prepare()
    return response


def _body(request: HttpRequest) -> bytes:
    # The management client always sends XML text or bytes (or nothing).
    body = request.body or b""
    assert isinstance(body, str | bytes)
    return body.encode() if isinstance(body, str) else body


class ServiceTransport(HttpTransport):
    """Sync transport: every request goes to ``service``."""

    def __init__(self, service: FakeManagementService) -> None:
        self.service = service

    def __enter__(self) -> ServiceTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: HttpRequest, **kwargs: Any) -> RequestsTransportResponse:
        reply = self.service.handle(request.method, request.url, dict(request.headers), _body(request))
        return RequestsTransportResponse(request, _requests_response(request, reply))


class AsyncServiceTransport(AsyncHttpTransport):
    """Async transport for ``azure.servicebus.aio.management``."""

    def __init__(self, service: FakeManagementService) -> None:
        self.service = service

    async def __aenter__(self) -> AsyncServiceTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, request: HttpRequest, **kwargs: Any) -> AsyncioRequestsTransportResponse:
        reply = self.service.handle(request.method, request.url, dict(request.headers), _body(request))
        return AsyncioRequestsTransportResponse(request, _requests_response(request, reply))
