"""Service Bus entities and their properties: queues, topics, subscriptions and rules.

One model for every way an entity is defined (the official emulator's Config.json, our
YAML config, the ATOM management API) and for the broker that enforces it. Property
names follow the management API's (``QueueDescription`` etc.) in snake case; durations
are ``timedelta``. Defaults are the real service's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MAX_TIMESPAN = timedelta(days=10675199, seconds=10085, microseconds=477581)
"""``TimeSpan.MaxValue`` (P10675199DT2H48M5.4775807S): "never" for TTLs and auto-delete."""


class EntityStatus(StrEnum):
    ACTIVE = "Active"
    DISABLED = "Disabled"
    SEND_DISABLED = "SendDisabled"
    RECEIVE_DISABLED = "ReceiveDisabled"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class QueueProperties:
    name: str
    lock_duration: timedelta = timedelta(minutes=1)
    max_size_in_megabytes: int = 1024
    requires_duplicate_detection: bool = False
    requires_session: bool = False
    default_message_time_to_live: timedelta = MAX_TIMESPAN
    dead_lettering_on_message_expiration: bool = False
    duplicate_detection_history_time_window: timedelta = timedelta(minutes=10)
    max_delivery_count: int = 10
    enable_batched_operations: bool = True
    status: EntityStatus = EntityStatus.ACTIVE
    forward_to: str | None = None
    forward_dead_lettered_messages_to: str | None = None
    auto_delete_on_idle: timedelta = MAX_TIMESPAN
    enable_partitioning: bool = False
    enable_express: bool = False
    user_metadata: str | None = None
    max_message_size_in_kilobytes: int = 1024
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    accessed_at: datetime = field(default_factory=_now)


@dataclass
class TopicProperties:
    name: str
    max_size_in_megabytes: int = 1024
    requires_duplicate_detection: bool = False
    default_message_time_to_live: timedelta = MAX_TIMESPAN
    duplicate_detection_history_time_window: timedelta = timedelta(minutes=10)
    enable_batched_operations: bool = True
    status: EntityStatus = EntityStatus.ACTIVE
    support_ordering: bool = True
    auto_delete_on_idle: timedelta = MAX_TIMESPAN
    enable_partitioning: bool = False
    enable_express: bool = False
    user_metadata: str | None = None
    max_message_size_in_kilobytes: int = 1024
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    accessed_at: datetime = field(default_factory=_now)


@dataclass
class SubscriptionProperties:
    topic_name: str
    name: str
    lock_duration: timedelta = timedelta(minutes=1)
    requires_session: bool = False
    default_message_time_to_live: timedelta = MAX_TIMESPAN
    dead_lettering_on_message_expiration: bool = False
    dead_lettering_on_filter_evaluation_exceptions: bool = True
    max_delivery_count: int = 10
    enable_batched_operations: bool = True
    status: EntityStatus = EntityStatus.ACTIVE
    forward_to: str | None = None
    forward_dead_lettered_messages_to: str | None = None
    auto_delete_on_idle: timedelta = MAX_TIMESPAN
    user_metadata: str | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    accessed_at: datetime = field(default_factory=_now)


@dataclass
class SqlFilter:
    sql_expression: str
    parameters: dict[str, object] = field(default_factory=dict)


@dataclass
class CorrelationFilter:
    correlation_id: str | None = None
    message_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    """``Label`` in the management API and Config.json."""
    session_id: str | None = None
    reply_to_session_id: str | None = None
    content_type: str | None = None
    properties: dict[str, object] = field(default_factory=dict)


@dataclass
class TrueFilter:
    pass


@dataclass
class FalseFilter:
    pass


Filter = SqlFilter | CorrelationFilter | TrueFilter | FalseFilter


@dataclass
class SqlRuleAction:
    sql_expression: str
    parameters: dict[str, object] = field(default_factory=dict)


DEFAULT_RULE = "$Default"
"""Every new subscription gets this rule, with a TrueFilter, unless created with another."""


@dataclass
class RuleProperties:
    topic_name: str
    subscription_name: str
    name: str = DEFAULT_RULE
    filter: Filter = field(default_factory=TrueFilter)
    action: SqlRuleAction | None = None
    created_at: datetime = field(default_factory=_now)


@dataclass
class NamespaceConfig:
    """Everything one namespace defines at start-up (from Config.json or YAML)."""

    name: str
    queues: list[QueueProperties] = field(default_factory=list)
    topics: list[TopicProperties] = field(default_factory=list)
    subscriptions: list[SubscriptionProperties] = field(default_factory=list)
    rules: list[RuleProperties] = field(default_factory=list)
