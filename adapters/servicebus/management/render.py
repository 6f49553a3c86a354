"""Entities to the ATOM entries and feeds the management API answers with.

Elements come in the order the service's DataContract serializer writes them (the
order of the SDK's generated models); properties that are not set are left out rather
than written empty, as the service does. The prefixes ``i:``, ``d2p1:`` and ``d6p1:``
are the service's own and must stay: @azure/service-bus matches them as plain text.
Usage::

    render_entry(queue_entry(queue, counts, "https://sbemulatorns.localhost:5300"))
    render_feed("Queues", base_url, "$Resources/queues", [queue_entry(...), ...], skip=0, top=100, has_more=False)

A GET of a queue or topic that does not exist answers 200 with
:func:`render_not_found_feed` (the SDKs raise their not-found error on it); a missing
subscription or rule answers 404.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit
from xml.sax.saxutils import escape

from adapters.servicebus.entities import (
    FalseFilter,
    Filter,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionProperties,
    TopicProperties,
    TrueFilter,
)
from adapters.servicebus.management import xmlns
from adapters.servicebus.management.timespan import format_datetime, format_duration
from adapters.servicebus.management.validation import INT32_MAX

SQL_COMPATIBILITY_LEVEL = "20"
_XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


@dataclass(frozen=True)
class MessageCounts:
    """An entity's runtime counts, as the broker knows them."""

    active: int = 0
    dead_letter: int = 0
    scheduled: int = 0
    transfer: int = 0
    transfer_dead_letter: int = 0
    size_in_bytes: int = 0

    @property
    def total(self) -> int:
        """``MessageCount``: every message the entity holds, dead-lettered ones included."""
        return self.active + self.dead_letter + self.scheduled + self.transfer + self.transfer_dead_letter


@dataclass(frozen=True)
class AtomEntry:
    """One rendered ``<entry>`` element: the body of a GET or PUT, or one item of a feed."""

    xml: str


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    return escape(str(value))


def _elements(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(f"<{name}>{_text(value)}</{name}>" for name, value in pairs if value is not None)


def _count_details(counts: MessageCounts) -> str:
    pairs = (
        ("ActiveMessageCount", counts.active),
        ("DeadLetterMessageCount", counts.dead_letter),
        ("ScheduledMessageCount", counts.scheduled),
        ("TransferDeadLetterMessageCount", counts.transfer_dead_letter),
        ("TransferMessageCount", counts.transfer),
    )
    inner = "".join(f"<d2p1:{name}>{value}</d2p1:{name}>" for name, value in pairs)
    return f'<CountDetails xmlns:d2p1="{xmlns.COUNT_DETAILS}">{inner}</CountDetails>'


def _description(root: str, body: str) -> str:
    return f'<{root} xmlns="{xmlns.SERVICEBUS}" xmlns:i="{xmlns.XSI}">{body}</{root}>'


def _entity_url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(path, safe='/~$')}"


def _forward_url(base_url: str, name: str | None) -> str | None:
    # The service answers with the target's absolute address, as the SDKs send it.
    return None if name is None else f"sb://{urlsplit(base_url).netloc}/{name}"


def _namespace_name(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").split(".")[0]


def _entry(base_url: str, path: str, title: str, published: datetime, updated: datetime, content: str) -> AtomEntry:
    url = escape(_entity_url(base_url, path))
    xml = (
        f'<entry xmlns="{xmlns.ATOM}">'
        f"<id>{url}</id>"
        f'<title type="text">{escape(title)}</title>'
        f"<published>{format_datetime(published)}</published>"
        f"<updated>{format_datetime(updated)}</updated>"
        f"<author><name>{escape(_namespace_name(base_url))}</name></author>"
        f'<link rel="self" href="{url}"/>'
        f'<content type="application/xml">{content}</content>'
        "</entry>"
    )
    return AtomEntry(xml)


def queue_entry(queue: QueueProperties, counts: MessageCounts, base_url: str) -> AtomEntry:
    """``base_url`` is the namespace's address as the client sees it, e.g. ``https://ns.localhost:5300``."""
    body = _elements(
        (
            ("LockDuration", queue.lock_duration),
            ("MaxSizeInMegabytes", queue.max_size_in_megabytes),
            ("RequiresDuplicateDetection", queue.requires_duplicate_detection),
            ("RequiresSession", queue.requires_session),
            ("DefaultMessageTimeToLive", queue.default_message_time_to_live),
            ("DeadLetteringOnMessageExpiration", queue.dead_lettering_on_message_expiration),
            ("DuplicateDetectionHistoryTimeWindow", queue.duplicate_detection_history_time_window),
            ("MaxDeliveryCount", queue.max_delivery_count),
            ("EnableBatchedOperations", queue.enable_batched_operations),
            ("SizeInBytes", counts.size_in_bytes),
            ("MessageCount", counts.total),
            ("IsAnonymousAccessible", False),
        )
    )
    body += "<AuthorizationRules/>"
    body += _elements(
        (
            ("Status", queue.status.value),
            ("CreatedAt", queue.created_at),
            ("UpdatedAt", queue.updated_at),
            ("AccessedAt", queue.accessed_at),
            ("SupportOrdering", True),
        )
    )
    body += _count_details(counts)
    body += _elements(
        (
            ("AutoDeleteOnIdle", queue.auto_delete_on_idle),
            ("EnablePartitioning", queue.enable_partitioning),
            ("EntityAvailabilityStatus", "Available"),
            ("EnableExpress", queue.enable_express),
            ("ForwardTo", _forward_url(base_url, queue.forward_to)),
            ("UserMetadata", queue.user_metadata),
            ("ForwardDeadLetteredMessagesTo", _forward_url(base_url, queue.forward_dead_lettered_messages_to)),
            ("MaxMessageSizeInKilobytes", queue.max_message_size_in_kilobytes),
        )
    )
    content = _description("QueueDescription", body)
    return _entry(base_url, queue.name, queue.name, queue.created_at, queue.updated_at, content)


def topic_entry(topic: TopicProperties, counts: MessageCounts, subscription_count: int, base_url: str) -> AtomEntry:
    body = _elements(
        (
            ("DefaultMessageTimeToLive", topic.default_message_time_to_live),
            ("MaxSizeInMegabytes", topic.max_size_in_megabytes),
            ("RequiresDuplicateDetection", topic.requires_duplicate_detection),
            ("DuplicateDetectionHistoryTimeWindow", topic.duplicate_detection_history_time_window),
            ("EnableBatchedOperations", topic.enable_batched_operations),
            ("SizeInBytes", counts.size_in_bytes),
            ("FilteringMessagesBeforePublishing", False),
            ("IsAnonymousAccessible", False),
        )
    )
    body += "<AuthorizationRules/>"
    body += _elements(
        (
            ("Status", topic.status.value),
            ("CreatedAt", topic.created_at),
            ("UpdatedAt", topic.updated_at),
            ("AccessedAt", topic.accessed_at),
            ("SupportOrdering", topic.support_ordering),
        )
    )
    body += _count_details(counts)
    body += _elements(
        (
            ("SubscriptionCount", subscription_count),
            ("AutoDeleteOnIdle", topic.auto_delete_on_idle),
            ("EnablePartitioning", topic.enable_partitioning),
            ("EntityAvailabilityStatus", "Available"),
            ("EnableSubscriptionPartitioning", False),
            ("EnableExpress", topic.enable_express),
            ("UserMetadata", topic.user_metadata),
            ("MaxMessageSizeInKilobytes", topic.max_message_size_in_kilobytes),
        )
    )
    content = _description("TopicDescription", body)
    return _entry(base_url, topic.name, topic.name, topic.created_at, topic.updated_at, content)


def subscription_path(topic_name: str, subscription_name: str) -> str:
    return f"{topic_name}/Subscriptions/{subscription_name}"


def rule_path(topic_name: str, subscription_name: str, rule_name: str) -> str:
    return f"{subscription_path(topic_name, subscription_name)}/Rules/{rule_name}"


def subscription_entry(subscription: SubscriptionProperties, counts: MessageCounts, base_url: str) -> AtomEntry:
    body = _elements(
        (
            ("LockDuration", subscription.lock_duration),
            ("RequiresSession", subscription.requires_session),
            ("DefaultMessageTimeToLive", subscription.default_message_time_to_live),
            ("DeadLetteringOnMessageExpiration", subscription.dead_lettering_on_message_expiration),
            ("DeadLetteringOnFilterEvaluationExceptions", subscription.dead_lettering_on_filter_evaluation_exceptions),
            ("MessageCount", counts.total),
            ("MaxDeliveryCount", subscription.max_delivery_count),
            ("EnableBatchedOperations", subscription.enable_batched_operations),
            ("Status", subscription.status.value),
            ("ForwardTo", _forward_url(base_url, subscription.forward_to)),
            ("CreatedAt", subscription.created_at),
            ("UpdatedAt", subscription.updated_at),
            ("AccessedAt", subscription.accessed_at),
        )
    )
    body += _count_details(counts)
    body += _elements(
        (
            ("ForwardDeadLetteredMessagesTo", _forward_url(base_url, subscription.forward_dead_lettered_messages_to)),
            ("AutoDeleteOnIdle", subscription.auto_delete_on_idle),
            ("EntityAvailabilityStatus", "Available"),
            ("UserMetadata", subscription.user_metadata),
        )
    )
    content = _description("SubscriptionDescription", body)
    path = subscription_path(subscription.topic_name, subscription.name)
    return _entry(base_url, path, subscription.name, subscription.created_at, subscription.updated_at, content)


def _key_values(values: Mapping[str, object]) -> str:
    items = []
    for key, value in values.items():
        items.append(
            "<KeyValueOfstringanyType>"
            f"<Key>{escape(key)}</Key>"
            f'<Value i:type="d6p1:{_xsd_type(value)}" xmlns:d6p1="{xmlns.XSD}">{_text(value)}</Value>'
            "</KeyValueOfstringanyType>"
        )
    return "".join(items)


def _xsd_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -INT32_MAX - 1 <= value <= INT32_MAX else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, datetime):
        return "dateTime"
    if isinstance(value, timedelta):
        return "duration"
    if isinstance(value, str):
        return "string"
    raise TypeError(f"a rule parameter or property cannot be a {type(value).__name__}")


def _sql_body(expression: str, parameters: Mapping[str, object]) -> str:
    body = _elements((("SqlExpression", expression), ("CompatibilityLevel", SQL_COMPATIBILITY_LEVEL)))
    if parameters:
        body += f"<Parameters>{_key_values(parameters)}</Parameters>"
    return body + "<RequiresPreprocessing>true</RequiresPreprocessing>"


def _filter(rule_filter: Filter) -> str:
    if isinstance(rule_filter, SqlFilter):
        return f'<Filter i:type="SqlFilter">{_sql_body(rule_filter.sql_expression, rule_filter.parameters)}</Filter>'
    if isinstance(rule_filter, TrueFilter):
        return f'<Filter i:type="TrueFilter">{_sql_body("1=1", {})}</Filter>'
    if isinstance(rule_filter, FalseFilter):
        return f'<Filter i:type="FalseFilter">{_sql_body("1=0", {})}</Filter>'
    body = _elements(
        (
            ("CorrelationId", rule_filter.correlation_id),
            ("MessageId", rule_filter.message_id),
            ("To", rule_filter.to),
            ("ReplyTo", rule_filter.reply_to),
            ("Label", rule_filter.subject),
            ("SessionId", rule_filter.session_id),
            ("ReplyToSessionId", rule_filter.reply_to_session_id),
            ("ContentType", rule_filter.content_type),
        )
    )
    properties = f"<Properties>{_key_values(rule_filter.properties)}</Properties>"
    return f'<Filter i:type="CorrelationFilter">{body}{properties}</Filter>'


def _action(action: SqlRuleAction | None) -> str:
    # Always written: the Python SDK reads the Action element of every rule it parses.
    if action is None:
        return '<Action i:type="EmptyRuleAction"/>'
    return f'<Action i:type="SqlRuleAction">{_sql_body(action.sql_expression, action.parameters)}</Action>'


def _rule_description(rule: RuleProperties) -> str:
    stamps = _elements((("CreatedAt", rule.created_at), ("Name", rule.name)))
    body = _filter(rule.filter) + _action(rule.action) + stamps
    return _description("RuleDescription", body)


def rule_entry(rule: RuleProperties, base_url: str) -> AtomEntry:
    path = rule_path(rule.topic_name, rule.subscription_name, rule.name)
    return _entry(base_url, path, rule.name, rule.created_at, rule.created_at, _rule_description(rule))


def namespace_entry(name: str, created_at: datetime, modified_at: datetime, base_url: str) -> AtomEntry:
    """``GET /$namespaceinfo``: a Standard messaging namespace."""
    body = _elements(
        (
            ("CreatedTime", created_at),
            ("MessagingSKU", "Standard"),
            ("ModifiedTime", modified_at),
            ("Name", name),
            ("NamespaceType", "Messaging"),
        )
    )
    return _entry(base_url, "$namespaceinfo", name, created_at, modified_at, _description("NamespaceInfo", body))


def render_entry(entry: AtomEntry) -> bytes:
    """A whole response body (content type :data:`xmlns.ENTRY_CONTENT_TYPE`)."""
    return (_XML_DECLARATION + entry.xml).encode()


def _list_url(base_url: str, collection_path: str, skip: int, top: int) -> str:
    query = urlencode({"$skip": skip, "$top": top}, safe="$")
    return f"{_entity_url(base_url, collection_path)}?{query}"


def render_feed(
    title: str,
    base_url: str,
    collection_path: str,
    entries: Sequence[AtomEntry],
    *,
    skip: int,
    top: int,
    has_more: bool,
    now: datetime | None = None,
) -> bytes:
    """One page of a list (content type :data:`xmlns.FEED_CONTENT_TYPE`).

    ``collection_path`` is what was listed: ``$Resources/queues``, ``$Resources/topics``,
    ``<topic>/Subscriptions`` or ``<topic>/Subscriptions/<sub>/Rules``. With ``has_more``
    the feed links the next page, which is how the SDKs know to ask for it.
    """
    self_url = escape(_list_url(base_url, collection_path, skip, top))
    links = f'<link rel="self" href="{self_url}"/>'
    if has_more:
        links += f'<link rel="next" href="{escape(_list_url(base_url, collection_path, skip + top, top))}"/>'
    xml = (
        f'<feed xmlns="{xmlns.ATOM}">'
        f'<title type="text">{escape(title)}</title>'
        f"<id>{self_url}</id>"
        f"<updated>{format_datetime(now or datetime.now(UTC))}</updated>"
        f"{links}{''.join(entry.xml for entry in entries)}</feed>"
    )
    return (_XML_DECLARATION + xml).encode()


def render_not_found_feed(now: datetime | None = None) -> bytes:
    """What the service answers (200, feed content type) to a GET of a queue or topic that does not exist."""
    stamp = format_datetime((now or datetime.now(UTC)).replace(microsecond=0))
    xml = (
        f'<feed xmlns="{xmlns.ATOM}">'
        '<title type="text">Publicly Listed Services</title>'
        '<subtitle type="text">This is the list of publicly-listed services currently available.</subtitle>'
        f"<id>uuid:{uuid.uuid4()};id=1</id>"
        f"<updated>{stamp}</updated>"
        "<generator>Microsoft® Service Bus</generator>"
        "</feed>"
    )
    return (_XML_DECLARATION + xml).encode()
