"""The limits the real service enforces on entity names and properties.

Shared by every way an entity is defined: the management API answers a violation with a
400, the config loaders with an error naming the entity. Each check raises
:class:`InvalidProperty` naming the property as the management API spells it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from adapters.servicebus.entities import (
    DEFAULT_RULE,
    CorrelationFilter,
    EntityStatus,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SubscriptionProperties,
    TopicProperties,
)
from adapters.servicebus.management.timespan import format_duration

MAX_PATH_LENGTH = 260
MAX_CHILD_NAME_LENGTH = 50
MAX_USER_METADATA_LENGTH = 1024
MAX_SQL_EXPRESSION_LENGTH = 1024
LOCK_DURATION_RANGE = (timedelta(seconds=5), timedelta(minutes=5))
DUPLICATE_DETECTION_RANGE = (timedelta(seconds=20), timedelta(days=7))
MIN_AUTO_DELETE_ON_IDLE = timedelta(minutes=5)
MAX_SIZE_IN_MEGABYTES = 80 * 1024
MESSAGE_SIZE_IN_KILOBYTES_RANGE = (1024, 102400)
INT32_MAX = 2**31 - 1

_VALUE_TYPES = (str, int, float, datetime, timedelta)
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_QUEUE_STATUSES = frozenset(EntityStatus)
_TOPIC_STATUSES = frozenset({EntityStatus.ACTIVE, EntityStatus.DISABLED, EntityStatus.SEND_DISABLED})
_SUBSCRIPTION_STATUSES = frozenset({EntityStatus.ACTIVE, EntityStatus.DISABLED, EntityStatus.RECEIVE_DISABLED})


class InvalidProperty(ValueError):
    """A property (or name) the service would refuse: ``field`` as the management API names it."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"The value '{value}' of {field} is invalid: {reason}")


def check_entity_path(name: str, field: str = "Name") -> None:
    """A queue or topic name: up to 260 characters, segments separated by ``/``."""
    if not name or len(name) > MAX_PATH_LENGTH:
        raise InvalidProperty(field, name, f"an entity name must be 1 to {MAX_PATH_LENGTH} characters long")
    for segment in name.split("/"):
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise InvalidProperty(
                field,
                name,
                "entity segments can contain only letters, numbers, periods (.), hyphens (-), and underscores (_), "
                "and cannot be empty or start or end with '/'",
            )


def check_child_name(name: str, field: str = "Name", *, allow_default_rule: bool = False) -> None:
    """A subscription or rule name: up to 50 characters, no ``/``."""
    if allow_default_rule and name == DEFAULT_RULE:
        return
    if not name or len(name) > MAX_CHILD_NAME_LENGTH:
        raise InvalidProperty(field, name, f"the name must be 1 to {MAX_CHILD_NAME_LENGTH} characters long")
    if not _SEGMENT.fullmatch(name):
        raise InvalidProperty(
            field, name, "the name can contain only letters, numbers, periods (.), hyphens (-), and underscores (_)"
        )


def _check_range(field: str, value: timedelta, low: timedelta, high: timedelta | None = None) -> None:
    if value < low or (high is not None and value > high):
        if high is None:
            bounds = f"at least {format_duration(low)}"
        else:
            bounds = f"between {format_duration(low)} and {format_duration(high)}"
        raise InvalidProperty(field, format_duration(value), f"the value must be {bounds}")


def _check_positive_duration(field: str, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidProperty(field, format_duration(value), "the value must be greater than zero")


def _check_delivery_count(value: int) -> None:
    if not 1 <= value <= INT32_MAX:
        raise InvalidProperty("MaxDeliveryCount", value, f"the value must be between 1 and {INT32_MAX}")


def _check_forwarding(field: str, target: str | None, source: str | None) -> None:
    if target is None:
        return
    check_entity_path(target, field)
    if source is not None and target.casefold() == source.casefold():
        raise InvalidProperty(field, target, "an entity cannot forward messages to itself")


def _check_sizes(max_size_in_megabytes: int, max_message_size_in_kilobytes: int) -> None:
    if not (1024 <= max_size_in_megabytes <= MAX_SIZE_IN_MEGABYTES and max_size_in_megabytes % 1024 == 0):
        raise InvalidProperty(
            "MaxSizeInMegabytes",
            max_size_in_megabytes,
            f"the value must be a multiple of 1024 between 1024 and {MAX_SIZE_IN_MEGABYTES}",
        )
    low, high = MESSAGE_SIZE_IN_KILOBYTES_RANGE
    if not low <= max_message_size_in_kilobytes <= high:
        raise InvalidProperty(
            "MaxMessageSizeInKilobytes", max_message_size_in_kilobytes, f"the value must be between {low} and {high}"
        )


def _check_user_metadata(value: str | None) -> None:
    if value is not None and len(value) > MAX_USER_METADATA_LENGTH:
        raise InvalidProperty(
            "UserMetadata", value[:32] + "...", f"the value must be at most {MAX_USER_METADATA_LENGTH} characters"
        )


def _check_status(value: EntityStatus, allowed: frozenset[EntityStatus], kind: str) -> None:
    if value not in allowed:
        names = ", ".join(sorted(status.value for status in allowed))
        raise InvalidProperty("Status", value.value, f"a {kind} status must be one of {names}")


def check_queue(queue: QueueProperties) -> None:
    check_entity_path(queue.name)
    _check_range("LockDuration", queue.lock_duration, *LOCK_DURATION_RANGE)
    _check_positive_duration("DefaultMessageTimeToLive", queue.default_message_time_to_live)
    _check_range(
        "DuplicateDetectionHistoryTimeWindow", queue.duplicate_detection_history_time_window, *DUPLICATE_DETECTION_RANGE
    )
    _check_range("AutoDeleteOnIdle", queue.auto_delete_on_idle, MIN_AUTO_DELETE_ON_IDLE)
    _check_delivery_count(queue.max_delivery_count)
    _check_sizes(queue.max_size_in_megabytes, queue.max_message_size_in_kilobytes)
    _check_forwarding("ForwardTo", queue.forward_to, queue.name)
    _check_forwarding("ForwardDeadLetteredMessagesTo", queue.forward_dead_lettered_messages_to, queue.name)
    _check_user_metadata(queue.user_metadata)
    _check_status(queue.status, _QUEUE_STATUSES, "queue")


def check_topic(topic: TopicProperties) -> None:
    check_entity_path(topic.name)
    _check_positive_duration("DefaultMessageTimeToLive", topic.default_message_time_to_live)
    _check_range(
        "DuplicateDetectionHistoryTimeWindow", topic.duplicate_detection_history_time_window, *DUPLICATE_DETECTION_RANGE
    )
    _check_range("AutoDeleteOnIdle", topic.auto_delete_on_idle, MIN_AUTO_DELETE_ON_IDLE)
    _check_sizes(topic.max_size_in_megabytes, topic.max_message_size_in_kilobytes)
    _check_user_metadata(topic.user_metadata)
    _check_status(topic.status, _TOPIC_STATUSES, "topic")


def check_subscription(subscription: SubscriptionProperties) -> None:
    check_entity_path(subscription.topic_name, "TopicName")
    check_child_name(subscription.name)
    _check_range("LockDuration", subscription.lock_duration, *LOCK_DURATION_RANGE)
    _check_positive_duration("DefaultMessageTimeToLive", subscription.default_message_time_to_live)
    _check_range("AutoDeleteOnIdle", subscription.auto_delete_on_idle, MIN_AUTO_DELETE_ON_IDLE)
    _check_delivery_count(subscription.max_delivery_count)
    _check_forwarding("ForwardTo", subscription.forward_to, None)
    _check_forwarding("ForwardDeadLetteredMessagesTo", subscription.forward_dead_lettered_messages_to, None)
    _check_user_metadata(subscription.user_metadata)
    _check_status(subscription.status, _SUBSCRIPTION_STATUSES, "subscription")


def _check_sql_expression(field: str, expression: str) -> None:
    if not expression.strip():
        raise InvalidProperty(field, expression, "the SQL expression cannot be empty")
    if len(expression) > MAX_SQL_EXPRESSION_LENGTH:
        raise InvalidProperty(
            field, expression[:32] + "...", f"the SQL expression must be at most {MAX_SQL_EXPRESSION_LENGTH} characters"
        )


def check_rule(rule: RuleProperties) -> None:
    check_child_name(rule.name, allow_default_rule=True)
    if isinstance(rule.filter, SqlFilter):
        _check_sql_expression("SqlFilter.SqlExpression", rule.filter.sql_expression)
    elif isinstance(rule.filter, CorrelationFilter) and not any(
        (*_correlation_fields(rule.filter), rule.filter.properties)
    ):
        raise InvalidProperty("CorrelationFilter", "{}", "a correlation filter needs at least one property to match")
    if rule.action is not None:
        _check_sql_expression("SqlRuleAction.SqlExpression", rule.action.sql_expression)
    for field, values in _rule_values(rule):
        for key, value in values.items():
            if not isinstance(key, str) or not key:
                raise InvalidProperty(field, key, "keys must be non-empty strings")
            if not isinstance(value, _VALUE_TYPES):
                raise InvalidProperty(
                    f"{field}[{key}]", value, "values must be strings, numbers, booleans, instants or durations"
                )


def _rule_values(rule: RuleProperties) -> list[tuple[str, dict[str, object]]]:
    values = []
    if isinstance(rule.filter, SqlFilter):
        values.append(("SqlFilter.Parameters", rule.filter.parameters))
    elif isinstance(rule.filter, CorrelationFilter):
        values.append(("CorrelationFilter.Properties", rule.filter.properties))
    if rule.action is not None:
        values.append(("SqlRuleAction.Parameters", rule.action.parameters))
    return values


def _correlation_fields(correlation: CorrelationFilter) -> tuple[str | None, ...]:
    return (
        correlation.correlation_id,
        correlation.message_id,
        correlation.to,
        correlation.reply_to,
        correlation.subject,
        correlation.session_id,
        correlation.reply_to_session_id,
        correlation.content_type,
    )


def check_queue_update(existing: QueueProperties, new: QueueProperties) -> None:
    """What cannot change once a queue exists."""
    _check_unchanged("RequiresSession", existing.requires_session, new.requires_session, "Queue")
    _check_unchanged(
        "RequiresDuplicateDetection", existing.requires_duplicate_detection, new.requires_duplicate_detection, "Queue"
    )
    _check_unchanged("EnablePartitioning", existing.enable_partitioning, new.enable_partitioning, "Queue")


def check_topic_update(existing: TopicProperties, new: TopicProperties) -> None:
    _check_unchanged(
        "RequiresDuplicateDetection", existing.requires_duplicate_detection, new.requires_duplicate_detection, "Topic"
    )
    _check_unchanged("EnablePartitioning", existing.enable_partitioning, new.enable_partitioning, "Topic")


def check_subscription_update(existing: SubscriptionProperties, new: SubscriptionProperties) -> None:
    _check_unchanged("RequiresSession", existing.requires_session, new.requires_session, "Subscription")


def _check_unchanged(field: str, old: bool, new: bool, kind: str) -> None:
    if old != new:
        raise InvalidProperty(field, str(new).lower(), f"the value of an existing {kind} cannot be changed")
