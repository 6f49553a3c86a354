"""Subscription rules: which messages a subscription gets, and the changes its rule actions make.

The rule engine (SQL and correlation filters, SQL actions) lives in
``adapters.servicebus.filters``; ``filter_engine()`` is the one place the broker imports it,
and only when a rule needs it: TrueFilter and FalseFilter, the common case, are decided here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.servicebus.broker.messages import BrokerMessage
from adapters.servicebus.entities import FalseFilter, RuleProperties, TrueFilter

log = logging.getLogger(__name__)

FILTER_ERROR_REASON = "FilterEvaluationExceptions"


@dataclass(frozen=True)
class FilterEngine:
    compile_filter: Callable[[Any], Callable[[Any], bool]]
    compile_action: Callable[[Any], Callable[[Any], Any] | None]
    message_view: Callable[..., Any]
    """Builds the view rules read: ``message_view(system=..., user=...)``."""
    evaluation_error: type[Exception]


@functools.cache
def filter_engine() -> FilterEngine:
    from adapters.servicebus.filters import FilterEvaluationError, MessageView, compile_action, compile_filter

    return FilterEngine(compile_filter, compile_action, MessageView, FilterEvaluationError)


Match = bool | Callable[[Any], bool]


class Rule:
    """A rule with its filter and action compiled once, when it is created or loaded."""

    __slots__ = ("properties", "match", "action")

    def __init__(self, properties: RuleProperties) -> None:
        self.properties = properties
        rule_filter = properties.filter
        self.match: Match
        if isinstance(rule_filter, TrueFilter):
            self.match = True
        elif isinstance(rule_filter, FalseFilter):
            self.match = False
        else:
            self.match = filter_engine().compile_filter(rule_filter)
        self.action = None if properties.action is None else filter_engine().compile_action(properties.action)


class RuleFailure(Exception):
    """A filter or action failed on one message: that subscription's copy is dead-lettered or dropped."""


RULE_NAME_PROPERTY = "RuleName"


def select(rules: Iterable[Rule], message: BrokerMessage) -> list[BrokerMessage]:
    """The subscription's copies of ``message``, as the service makes them.

    Rules without an action are OR-ed into one copy; each matching rule with an action makes
    a copy of its own, changed by the action and carrying the rule's name in ``RuleName``.
    Raises RuleFailure when a filter or an action fails on this message.
    """
    engine_view = None
    plain = False
    acting: list[Rule] = []
    try:
        for rule in rules:
            if rule.match is True:
                hit = True
            elif rule.match is False:
                hit = False
            else:
                engine_view = engine_view or message_view(message)
                hit = bool(rule.match(engine_view))
            if hit and rule.action is None:
                plain = True
            elif hit:
                acting.append(rule)
        copies = [message.copy()] if plain else []
        for rule in acting:
            copy = message.copy()
            apply_view(copy, rule.action(message_view(copy)))  # type: ignore[misc]
            copy.application_properties[RULE_NAME_PROPERTY] = rule.properties.name
            copies.append(copy)
        return copies
    # The engine raises FilterEvaluationError; anything else is a defect in a rule's code, and
    # it must not fail the send for the other subscriptions either.
    except Exception as error:
        if not isinstance(error, filter_engine().evaluation_error):
            log.warning("rule evaluation failed unexpectedly", exc_info=True)
        raise RuleFailure(str(error) or type(error).__name__) from error


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def message_view(message: BrokerMessage) -> Any:
    """What rules see of a message: its system properties by their management names, and its application properties."""
    ttl = message.time_to_live
    system = {
        "MessageId": message.message_id,
        "CorrelationId": message.correlation_id,
        "SessionId": message.session_id,
        "ReplyTo": message.reply_to,
        "ReplyToSessionId": message.reply_to_session_id,
        "To": message.to,
        "Label": message.subject,
        "ContentType": message.content_type,
        "PartitionKey": message.partition_key,
        "TimeToLive": None if ttl is None else timedelta(seconds=ttl),
        "ScheduledEnqueueTimeUtc": _time(message.scheduled_enqueue_time),
        "EnqueuedTimeUtc": _time(message.enqueued_time),
        "SequenceNumber": message.sequence_number,
        "DeliveryCount": message.delivery_count,
        "Size": message.size,
        "State": message.state.name.capitalize(),
    }
    return filter_engine().message_view(
        system={k: v for k, v in system.items() if v is not None}, user=message.application_properties
    )


_WRITABLE = (
    ("MessageId", "message_id"),
    ("CorrelationId", "correlation_id"),
    ("SessionId", "session_id"),
    ("ReplyTo", "reply_to"),
    ("ReplyToSessionId", "reply_to_session_id"),
    ("To", "to"),
    ("Label", "subject"),
    ("ContentType", "content_type"),
    ("PartitionKey", "partition_key"),
)


def apply_view(message: BrokerMessage, view: Any) -> None:
    """Carry what a rule action changed back onto the message."""
    system = view.system
    for key, attribute in _WRITABLE:
        setattr(message, attribute, system.get(key))
    ttl = system.get("TimeToLive")
    message.time_to_live = None if ttl is None else ttl.total_seconds()
    message.application_properties = dict(view.user)
