"""The management REST API (ATOM over HTTPS) that ``ServiceBusAdministrationClient`` speaks,
routed to the broker.

Paths: ``/$namespaceinfo``; ``/$Resources/queues`` and ``/$Resources/topics`` (lists,
``$skip``/``$top``); ``/<queue or topic>``; ``/<topic>/Subscriptions[/<sub>]``;
``/<topic>/Subscriptions/<sub>/Rules[/<rule>]`` (segment names in any case). PUT creates,
PUT with ``If-Match: *`` updates, GET reads, DELETE deletes. Every request carries a SAS
token in ``Authorization``, checked against the namespace's keys.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.servicebus import broker as b
from adapters.servicebus.broker import Broker, EntityRuntime
from adapters.servicebus.entities import QueueProperties, TopicProperties
from adapters.servicebus.filters import RuleSyntaxError
from adapters.servicebus.management import render, sas
from adapters.servicebus.management.errors import (
    ERROR_CONTENT_TYPE,
    BadRequest,
    ManagementError,
    MessagingEntityAlreadyExists,
    MessagingEntityNotFound,
    Unauthorized,
    render_error,
)
from adapters.servicebus.management.parse import (
    merge_update,
    parse_default_rule,
    parse_entity,
    parse_rule,
    parse_subscription,
)
from adapters.servicebus.management.xmlns import ENTRY_CONTENT_TYPE, FEED_CONTENT_TYPE
from controlplane.gateway.http import read_body

MAX_BODY = 1024 * 1024
_DEFAULT_TOP = 100


class ManagementApi:
    def __init__(self, broker: Broker, keys: Callable[[], Mapping[str, str]], namespace: str) -> None:
        self.broker = broker
        self.keys = keys
        self.namespace = namespace
        self.created_at = datetime.now(UTC)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "localhost")
        try:
            self._authorize(headers.get("authorization", ""), host, scope["path"])
            body = await read_body(receive, MAX_BODY)
            status, content_type, payload = await self._route(scope, headers, host, body)
        except ManagementError as error:
            status, content_type = error.status, ERROR_CONTENT_TYPE
            payload = render_error(error.status, error.message)
        except RuleSyntaxError as error:  # a filter or action the rule engine refuses to compile
            status, content_type = 400, ERROR_CONTENT_TYPE
            payload = render_error(400, BadRequest.because(error.message).message)
        except b.BrokerError as error:
            translated = _translate(error)
            status, content_type = translated.status, ERROR_CONTENT_TYPE
            payload = render_error(translated.status, translated.message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _authorize(self, authorization: str, host: str, path: str) -> None:
        if not authorization:
            raise Unauthorized("MissingToken: The authorization header was not provided.")
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and rest.lstrip().lower().startswith(sas.PREFIX.lower()):
            # The SDKs send a SAS token from a connection string (SharedAccessSignature=...)
            # through their bearer-token policy: the token itself is what counts.
            authorization = rest.lstrip()
        try:
            audience = sas.validate(authorization, self.keys())
        except sas.SasTokenError as error:
            raise Unauthorized(error.message) from None
        if not sas.audience_covers(audience, host, path):
            raise Unauthorized(f"InvalidAudience: The token audience '{audience}' does not cover this resource.")

    async def _route(self, scope: dict, headers: Mapping[str, str], host: str, body: bytes) -> tuple[int, str, bytes]:
        method = scope["method"]
        base = f"https://{host}"
        segments = [
            urllib.parse.unquote(s) for s in scope.get("raw_path", scope["path"].encode()).decode().split("/") if s
        ]
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode())
        lowered = [s.lower() for s in segments]
        if lowered == ["$namespaceinfo"] and method == "GET":
            entry = render.namespace_entry(self.namespace, self.created_at, self.created_at, base)
            return 200, ENTRY_CONTENT_TYPE, render.render_entry(entry)
        if len(segments) == 2 and lowered[0] == "$resources" and lowered[1] in ("queues", "topics") and method == "GET":
            if lowered[1] == "queues":
                entries = [
                    render.queue_entry(q, self._counts(self.broker.queue_runtime(q.name)), base)
                    for q in self.broker.list_queues()
                ]
            else:
                entries = [self._topic_entry(t, base) for t in self.broker.list_topics()]
            return self._feed(lowered[1].capitalize(), base, f"$Resources/{lowered[1]}", entries, query)
        if len(segments) == 1:
            return await self._entity(method, segments[0], headers, body, base)
        if len(segments) in (2, 3) and lowered[1] == "subscriptions":
            return await self._subscription(method, segments, headers, body, base, query)
        if len(segments) in (4, 5) and lowered[1] == "subscriptions" and lowered[3] == "rules":
            return await self._rule(method, segments, headers, body, base, query)
        raise BadRequest.because(f"The request path '{scope['path']}' is not a Service Bus management resource.")

    # --- queues and topics --------------------------------------------------------------

    async def _entity(
        self, method: str, name: str, headers: Mapping[str, str], body: bytes, base: str
    ) -> tuple[int, str, bytes]:
        if method == "GET":
            found = self._find_entity(name)
            if found is None:
                return 200, FEED_CONTENT_TYPE, render.render_not_found_feed()
            return 200, ENTRY_CONTENT_TYPE, render.render_entry(self._entity_entry(found, base))
        if method == "DELETE":
            if isinstance(self._find_entity(name), TopicProperties):
                await self.broker.delete_topic(name)
            else:
                await self.broker.delete_queue(name)
            return 200, ENTRY_CONTENT_TYPE, b""
        if method == "PUT":
            wanted = parse_entity(name, body)
            if headers.get("if-match") == "*":
                existing = self._find_entity(name)
                if existing is None or type(existing) is not type(wanted):
                    raise MessagingEntityNotFound.for_entity(f"{self.namespace}:{type(wanted).__name__[:-10]}:{name}")
                merged = merge_update(existing, wanted)
                if isinstance(merged, QueueProperties):
                    saved: QueueProperties | TopicProperties = await self.broker.update_queue(merged)
                else:
                    saved = await self.broker.update_topic(merged)
                return 200, ENTRY_CONTENT_TYPE, render.render_entry(self._entity_entry(saved, base))
            if isinstance(wanted, QueueProperties):
                saved = await self.broker.create_queue(wanted)
            else:
                saved = await self.broker.create_topic(wanted)
            return 201, ENTRY_CONTENT_TYPE, render.render_entry(self._entity_entry(saved, base))
        raise BadRequest.because(f"The method {method} is not allowed on an entity.")

    def _find_entity(self, name: str) -> QueueProperties | TopicProperties | None:
        for getter in (self.broker.get_queue, self.broker.get_topic):
            try:
                return getter(name)
            except b.MessagingEntityNotFound:
                continue
        return None

    def _entity_entry(self, entity: QueueProperties | TopicProperties, base: str) -> render.AtomEntry:
        if isinstance(entity, QueueProperties):
            return render.queue_entry(entity, self._counts(self.broker.queue_runtime(entity.name)), base)
        return self._topic_entry(entity, base)

    def _topic_entry(self, topic: TopicProperties, base: str) -> render.AtomEntry:
        runtime = self.broker.topic_runtime(topic.name)
        return render.topic_entry(topic, self._counts(runtime), runtime.subscription_count, base)

    # --- subscriptions and rules --------------------------------------------------------

    async def _subscription(
        self,
        method: str,
        segments: list[str],
        headers: Mapping[str, str],
        body: bytes,
        base: str,
        query: Mapping[str, list[str]],
    ) -> tuple[int, str, bytes]:
        topic = segments[0]
        if len(segments) == 2:
            if method != "GET":
                raise BadRequest.because(f"The method {method} is not allowed on a subscription list.")
            entries = [self._subscription_entry(s, base) for s in self.broker.list_subscriptions(topic)]
            return self._feed("Subscriptions", base, f"{topic}/Subscriptions", entries, query)
        name = segments[2]
        if method == "GET":
            found = self.broker.get_subscription(topic, name)
            return 200, ENTRY_CONTENT_TYPE, render.render_entry(self._subscription_entry(found, base))
        if method == "DELETE":
            await self.broker.delete_subscription(topic, name)
            return 200, ENTRY_CONTENT_TYPE, b""
        if method == "PUT":
            wanted = parse_subscription(topic, name, body)
            if headers.get("if-match") == "*":
                existing = self.broker.get_subscription(topic, name)
                merged = merge_update(existing, wanted)
                saved = await self.broker.update_subscription(merged)
                return 200, ENTRY_CONTENT_TYPE, render.render_entry(self._subscription_entry(saved, base))
            rule = parse_default_rule(topic, name, body)
            saved = await self.broker.create_subscription(wanted, rule)
            return 201, ENTRY_CONTENT_TYPE, render.render_entry(self._subscription_entry(saved, base))
        raise BadRequest.because(f"The method {method} is not allowed on a subscription.")

    def _subscription_entry(self, subscription: Any, base: str) -> render.AtomEntry:
        runtime = self.broker.subscription_runtime(subscription.topic_name, subscription.name)
        return render.subscription_entry(subscription, self._counts(runtime), base)

    async def _rule(
        self,
        method: str,
        segments: list[str],
        headers: Mapping[str, str],
        body: bytes,
        base: str,
        query: Mapping[str, list[str]],
    ) -> tuple[int, str, bytes]:
        topic, subscription = segments[0], segments[2]
        if len(segments) == 4:
            if method != "GET":
                raise BadRequest.because(f"The method {method} is not allowed on a rule list.")
            entries = [render.rule_entry(r, base) for r in self.broker.list_rules(topic, subscription)]
            return self._feed("Rules", base, f"{topic}/Subscriptions/{subscription}/Rules", entries, query)
        name = segments[4]
        if method == "GET":
            return (
                200,
                ENTRY_CONTENT_TYPE,
                render.render_entry(render.rule_entry(self.broker.get_rule(topic, subscription, name), base)),
            )
        if method == "DELETE":
            await self.broker.delete_rule(topic, subscription, name)
            return 200, ENTRY_CONTENT_TYPE, b""
        if method == "PUT":
            wanted = parse_rule(topic, subscription, name, body)
            if headers.get("if-match") == "*":
                saved = await self.broker.update_rule(wanted)
                return 200, ENTRY_CONTENT_TYPE, render.render_entry(render.rule_entry(saved, base))
            saved = await self.broker.create_rule(wanted)
            return 201, ENTRY_CONTENT_TYPE, render.render_entry(render.rule_entry(saved, base))
        raise BadRequest.because(f"The method {method} is not allowed on a rule.")

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _counts(runtime: EntityRuntime) -> render.MessageCounts:
        return render.MessageCounts(
            active=runtime.active_message_count,
            dead_letter=runtime.dead_letter_message_count,
            scheduled=runtime.scheduled_message_count,
            transfer=runtime.transfer_message_count,
            transfer_dead_letter=runtime.transfer_dead_letter_message_count,
            size_in_bytes=runtime.size_in_bytes,
        )

    @staticmethod
    def _feed(
        title: str, base: str, path: str, entries: list[render.AtomEntry], query: Mapping[str, list[str]]
    ) -> tuple[int, str, bytes]:
        skip = _int_param(query, "$skip", 0)
        top = _int_param(query, "$top", _DEFAULT_TOP)
        page = entries[skip : skip + top]
        body = render.render_feed(title, base, path, page, skip=skip, top=top, has_more=skip + top < len(entries))
        return 200, FEED_CONTENT_TYPE, body


def _int_param(query: Mapping[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise BadRequest.because(f"The value '{values[0]}' of {name} is not an integer.") from None
    if value < 0:
        raise BadRequest.because(f"The value of {name} must not be negative.")
    return value


def _translate(error: b.BrokerError) -> ManagementError:
    if isinstance(error, b.MessagingEntityNotFound):
        return MessagingEntityNotFound(f"{error.message} {MessagingEntityNotFound.message}")
    if isinstance(error, b.MessagingEntityAlreadyExists):
        return MessagingEntityAlreadyExists()
    if error.status == 400:
        return BadRequest.because(error.message)
    return ManagementError(error.message)
