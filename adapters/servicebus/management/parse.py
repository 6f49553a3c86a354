"""ATOM entries that clients PUT, to entities; a bad body or value is a :class:`BadRequest`.

Parsing is permissive where the service's is: elements are found by local name in any
order, unknown and read-only elements (``MessageCount``, ``CreatedAt``...) are ignored,
``i:nil`` means absent. Values are checked as the service checks them (see
:mod:`validation`). A DTD in the body is refused, as the service refuses one.

Whether a PUT creates or updates is the caller's to know (``If-Match: *``); for an
update, :func:`merge_update` checks what cannot change and keeps the creation time.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from adapters.servicebus.entities import (
    DEFAULT_RULE,
    CorrelationFilter,
    EntityStatus,
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
from adapters.servicebus.management import validation, xmlns
from adapters.servicebus.management.errors import BadRequest
from adapters.servicebus.management.timespan import parse_datetime, parse_duration
from adapters.servicebus.management.validation import InvalidProperty

_NIL = f"{{{xmlns.XSI}}}nil"
_TYPE = f"{{{xmlns.XSI}}}type"
_INT_TYPES = frozenset(
    {"int", "long", "short", "byte", "integer", "unsignedByte", "unsignedShort", "unsignedInt", "unsignedLong"}
)
_FLOAT_TYPES = frozenset({"double", "float", "decimal"})
_INT64 = (-(2**63), 2**63 - 1)

_T = TypeVar("_T")
Entity = TypeVar("Entity", QueueProperties, TopicProperties, SubscriptionProperties, RuleProperties)


class _DoctypeRefused(Exception):
    pass


class _TreeBuilder(ET.TreeBuilder):
    def doctype(self, name: str, pubid: str, system: str) -> None:
        raise _DoctypeRefused


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse_xml(body: bytes) -> ET.Element:
    parser = ET.XMLParser(target=_TreeBuilder())
    try:
        parser.feed(body)
        return parser.close()
    except _DoctypeRefused:
        raise BadRequest.because("The request body cannot contain a document type declaration.") from None
    except ET.ParseError as exc:
        raise BadRequest.because(f"The request body is not well-formed XML: {exc}.") from None


def _description(body: bytes) -> ET.Element:
    """The ``*Description`` element inside ``<entry><content>``."""
    root = _parse_xml(body)
    content = next((child for child in root if _local(child.tag) == "content"), None)
    if _local(root.tag) != "entry" or content is None or len(content) == 0:
        raise BadRequest.because("The request body must be an ATOM entry whose content is an entity description.")
    return content[0]


class _Fields:
    """The children of one XML element by local name, read as the types the service expects."""

    def __init__(self, element: ET.Element, prefix: str = "") -> None:
        self._children = {_local(child.tag): child for child in element if child.get(_NIL) != "true"}
        self._prefix = prefix

    def element(self, name: str) -> ET.Element | None:
        return self._children.get(name)

    def _raw(self, name: str) -> str | None:
        child = self._children.get(name)
        return None if child is None else (child.text or "").strip()

    def _convert(self, name: str, parse: Callable[[str], _T], default: _T, what: str) -> _T:
        text = self._raw(name)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError:
            raise BadRequest.from_invalid(InvalidProperty(self._prefix + name, text, f"expected {what}")) from None

    def string(self, name: str, default: str | None = None) -> str | None:
        child = self._children.get(name)
        if child is None:
            return default
        return child.text or None

    def boolean(self, name: str, default: bool) -> bool:
        return self._convert(name, _parse_bool, default, "true or false")

    def integer(self, name: str, default: int) -> int:
        return self._convert(name, _parse_int, default, "an integer")

    def duration(self, name: str, default: timedelta) -> timedelta:
        return self._convert(name, parse_duration, default, "an ISO 8601 duration")

    def status(self, default: EntityStatus) -> EntityStatus:
        return self._convert("Status", EntityStatus, default, "a valid entity status")

    def entity_reference(self, name: str) -> str | None:
        """``ForwardTo`` and friends: an absolute ``sb://host/name`` as the SDKs send it, or a bare name."""
        text = self.string(name)
        if text is None or "://" not in text:
            return text
        return urlsplit(text).path.strip("/") or None


def _parse_bool(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(text)


def _parse_int(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(text)
    return value


def _checked(entity: Entity, check: Callable[[Entity], None]) -> Entity:
    try:
        check(entity)
    except InvalidProperty as exc:
        raise BadRequest.from_invalid(exc) from None
    return entity


def _expect(element: ET.Element, kind: str) -> _Fields:
    if _local(element.tag) != kind:
        raise BadRequest.because(f"The request body must contain a {kind}, not a {_local(element.tag)}.")
    return _Fields(element)


def _queue(name: str, element: ET.Element) -> QueueProperties:
    fields = _expect(element, "QueueDescription")
    defaults = QueueProperties(name)
    queue = QueueProperties(
        name=name,
        lock_duration=fields.duration("LockDuration", defaults.lock_duration),
        max_size_in_megabytes=fields.integer("MaxSizeInMegabytes", defaults.max_size_in_megabytes),
        requires_duplicate_detection=fields.boolean(
            "RequiresDuplicateDetection", defaults.requires_duplicate_detection
        ),
        requires_session=fields.boolean("RequiresSession", defaults.requires_session),
        default_message_time_to_live=fields.duration("DefaultMessageTimeToLive", defaults.default_message_time_to_live),
        dead_lettering_on_message_expiration=fields.boolean(
            "DeadLetteringOnMessageExpiration", defaults.dead_lettering_on_message_expiration
        ),
        duplicate_detection_history_time_window=fields.duration(
            "DuplicateDetectionHistoryTimeWindow", defaults.duplicate_detection_history_time_window
        ),
        max_delivery_count=fields.integer("MaxDeliveryCount", defaults.max_delivery_count),
        enable_batched_operations=fields.boolean("EnableBatchedOperations", defaults.enable_batched_operations),
        status=fields.status(defaults.status),
        forward_to=fields.entity_reference("ForwardTo"),
        forward_dead_lettered_messages_to=fields.entity_reference("ForwardDeadLetteredMessagesTo"),
        auto_delete_on_idle=fields.duration("AutoDeleteOnIdle", defaults.auto_delete_on_idle),
        enable_partitioning=fields.boolean("EnablePartitioning", defaults.enable_partitioning),
        enable_express=fields.boolean("EnableExpress", defaults.enable_express),
        user_metadata=fields.string("UserMetadata"),
        max_message_size_in_kilobytes=fields.integer(
            "MaxMessageSizeInKilobytes", defaults.max_message_size_in_kilobytes
        ),
    )
    return _checked(queue, validation.check_queue)


def _topic(name: str, element: ET.Element) -> TopicProperties:
    fields = _expect(element, "TopicDescription")
    defaults = TopicProperties(name)
    topic = TopicProperties(
        name=name,
        max_size_in_megabytes=fields.integer("MaxSizeInMegabytes", defaults.max_size_in_megabytes),
        requires_duplicate_detection=fields.boolean(
            "RequiresDuplicateDetection", defaults.requires_duplicate_detection
        ),
        default_message_time_to_live=fields.duration("DefaultMessageTimeToLive", defaults.default_message_time_to_live),
        duplicate_detection_history_time_window=fields.duration(
            "DuplicateDetectionHistoryTimeWindow", defaults.duplicate_detection_history_time_window
        ),
        enable_batched_operations=fields.boolean("EnableBatchedOperations", defaults.enable_batched_operations),
        status=fields.status(defaults.status),
        support_ordering=fields.boolean("SupportOrdering", defaults.support_ordering),
        auto_delete_on_idle=fields.duration("AutoDeleteOnIdle", defaults.auto_delete_on_idle),
        enable_partitioning=fields.boolean("EnablePartitioning", defaults.enable_partitioning),
        enable_express=fields.boolean("EnableExpress", defaults.enable_express),
        user_metadata=fields.string("UserMetadata"),
        max_message_size_in_kilobytes=fields.integer(
            "MaxMessageSizeInKilobytes", defaults.max_message_size_in_kilobytes
        ),
    )
    return _checked(topic, validation.check_topic)


def parse_queue(name: str, body: bytes) -> QueueProperties:
    """A ``QueueDescription`` entry (PUT ``/<queue>``); omitted properties take the service's defaults."""
    return _queue(name, _description(body))


def parse_topic(name: str, body: bytes) -> TopicProperties:
    return _topic(name, _description(body))


def parse_entity(name: str, body: bytes) -> QueueProperties | TopicProperties:
    """PUT ``/<name>``: the service creates a queue or a topic depending on the description sent."""
    element = _description(body)
    if _local(element.tag) == "TopicDescription":
        return _topic(name, element)
    return _queue(name, element)


def parse_subscription(topic_name: str, name: str, body: bytes) -> SubscriptionProperties:
    """A ``SubscriptionDescription`` entry (PUT ``/<topic>/Subscriptions/<name>``)."""
    fields = _expect(_description(body), "SubscriptionDescription")
    defaults = SubscriptionProperties(topic_name, name)
    subscription = SubscriptionProperties(
        topic_name=topic_name,
        name=name,
        lock_duration=fields.duration("LockDuration", defaults.lock_duration),
        requires_session=fields.boolean("RequiresSession", defaults.requires_session),
        default_message_time_to_live=fields.duration("DefaultMessageTimeToLive", defaults.default_message_time_to_live),
        dead_lettering_on_message_expiration=fields.boolean(
            "DeadLetteringOnMessageExpiration", defaults.dead_lettering_on_message_expiration
        ),
        dead_lettering_on_filter_evaluation_exceptions=fields.boolean(
            "DeadLetteringOnFilterEvaluationExceptions", defaults.dead_lettering_on_filter_evaluation_exceptions
        ),
        max_delivery_count=fields.integer("MaxDeliveryCount", defaults.max_delivery_count),
        enable_batched_operations=fields.boolean("EnableBatchedOperations", defaults.enable_batched_operations),
        status=fields.status(defaults.status),
        forward_to=fields.entity_reference("ForwardTo"),
        forward_dead_lettered_messages_to=fields.entity_reference("ForwardDeadLetteredMessagesTo"),
        auto_delete_on_idle=fields.duration("AutoDeleteOnIdle", defaults.auto_delete_on_idle),
        user_metadata=fields.string("UserMetadata"),
    )
    return _checked(subscription, validation.check_subscription)


def parse_default_rule(topic_name: str, subscription_name: str, body: bytes) -> RuleProperties:
    """The rule a new subscription starts with: its ``DefaultRuleDescription`` (the .NET SDK
    sends one when a subscription is created with a rule), else ``$Default`` with a TrueFilter."""
    fields = _Fields(_description(body))
    element = fields.element("DefaultRuleDescription")
    if element is None:
        return RuleProperties(topic_name, subscription_name)
    name = _Fields(element).string("Name") or DEFAULT_RULE
    return _rule(topic_name, subscription_name, name, element)


def parse_rule(topic_name: str, subscription_name: str, name: str, body: bytes) -> RuleProperties:
    """A ``RuleDescription`` entry (PUT ``/<topic>/Subscriptions/<sub>/Rules/<name>``)."""
    element = _description(body)
    _expect(element, "RuleDescription")
    return _rule(topic_name, subscription_name, name, element)


def _rule(topic_name: str, subscription_name: str, name: str, element: ET.Element) -> RuleProperties:
    fields = _Fields(element)
    filter_element = fields.element("Filter")
    action_element = fields.element("Action")
    rule = RuleProperties(
        topic_name=topic_name,
        subscription_name=subscription_name,
        name=name,
        filter=TrueFilter() if filter_element is None else _filter(filter_element),
        action=None if action_element is None else _action(action_element),
    )
    return _checked(rule, validation.check_rule)


def _xsi_type(element: ET.Element, what: str) -> str:
    # The SDKs write ``i:type="SqlFilter"``; a prefixed value (``d6p1:int``) names an XML Schema type.
    value = element.get(_TYPE) or element.get("type")
    if not value:
        raise BadRequest.because(f"The {what} element needs an i:type attribute.")
    return value.rpartition(":")[2]


def _filter(element: ET.Element) -> Filter:
    kind = _xsi_type(element, "Filter")
    fields = _Fields(element, "Filter.")
    if kind == "TrueFilter":
        return TrueFilter()
    if kind == "FalseFilter":
        return FalseFilter()
    if kind == "SqlFilter":
        parameters = _key_values(fields.element("Parameters"), "Parameters")
        return SqlFilter(fields.string("SqlExpression") or "", parameters)
    if kind == "CorrelationFilter":
        return CorrelationFilter(
            correlation_id=fields.string("CorrelationId"),
            message_id=fields.string("MessageId"),
            to=fields.string("To"),
            reply_to=fields.string("ReplyTo"),
            subject=fields.string("Label"),
            session_id=fields.string("SessionId"),
            reply_to_session_id=fields.string("ReplyToSessionId"),
            content_type=fields.string("ContentType"),
            properties=_key_values(fields.element("Properties"), "Properties"),
        )
    raise BadRequest.because(f"The filter type '{kind}' is not supported.")


def _action(element: ET.Element) -> SqlRuleAction | None:
    kind = _xsi_type(element, "Action")
    if kind == "EmptyRuleAction":
        return None
    if kind == "SqlRuleAction":
        fields = _Fields(element, "Action.")
        parameters = _key_values(fields.element("Parameters"), "Parameters")
        return SqlRuleAction(fields.string("SqlExpression") or "", parameters)
    raise BadRequest.because(f"The action type '{kind}' is not supported.")


def _key_values(element: ET.Element | None, field: str) -> dict[str, object]:
    """``<KeyValueOfstringanyType><Key>k</Key><Value i:type="d6p1:int">1</Value>`` items to ``{k: 1}``."""
    values: dict[str, object] = {}
    for item in element if element is not None else ():
        parts = {_local(child.tag): child for child in item}
        key, value = parts.get("Key"), parts.get("Value")
        if key is None or value is None or not key.text:
            raise BadRequest.because(f"Every item of {field} needs a Key and a Value.")
        if key.text in values:
            raise BadRequest.because(f"The key '{key.text}' appears twice in {field}.")
        if value.get(_NIL) == "true":
            raise BadRequest.because(f"The value of '{key.text}' in {field} cannot be null.")
        values[key.text] = _typed_value(value, f"{field}[{key.text}]")
    return values


def _typed_value(element: ET.Element, field: str) -> object:
    text = element.text or ""
    kind = (element.get(_TYPE) or "string").rpartition(":")[2]
    try:
        if kind in _INT_TYPES:
            return _parse_int(text.strip())
        if kind in _FLOAT_TYPES:
            return float(text)
        if kind == "boolean":
            return _parse_bool(text.strip())
        if kind == "dateTime":
            return parse_datetime(text)
        if kind == "duration":
            return parse_duration(text)
    except ValueError:
        raise BadRequest.from_invalid(InvalidProperty(field, text, f"expected a value of type {kind}")) from None
    return text


def merge_update(existing: Entity, new: Entity, now: datetime | None = None) -> Entity:
    """What an update (PUT with ``If-Match: *``) stores: ``new``, with the creation and access
    times of ``existing``; refused (400) if it changes what the service keeps fixed."""
    if type(new) is not type(existing):
        kinds = f"{type(existing).__name__} into a {type(new).__name__}".replace("Properties", "")
        raise BadRequest.because(f"An update cannot change a {kinds}.")
    try:
        if isinstance(existing, QueueProperties) and isinstance(new, QueueProperties):
            validation.check_queue_update(existing, new)
        elif isinstance(existing, TopicProperties) and isinstance(new, TopicProperties):
            validation.check_topic_update(existing, new)
        elif isinstance(existing, SubscriptionProperties) and isinstance(new, SubscriptionProperties):
            validation.check_subscription_update(existing, new)
    except InvalidProperty as exc:
        raise BadRequest.from_invalid(exc) from None
    if isinstance(existing, RuleProperties):
        return replace(new, created_at=existing.created_at)
    stamp = now or datetime.now(UTC)
    return replace(new, created_at=existing.created_at, accessed_at=existing.accessed_at, updated_at=stamp)
