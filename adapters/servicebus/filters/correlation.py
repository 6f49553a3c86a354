"""Correlation filters: a conjunction of equalities, checked without the SQL machinery.

The documentation defines a correlation filter as equivalent to ``sys.X = '...' AND ... AND
prop = ...``: values compare exactly (strings case-sensitively, numbers across int/float),
property names case-insensitively. Unlike SQL, a value of another type is simply not a
match: the service matches correlation filters by lookup, so they cannot fail on a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.servicebus.entities import CorrelationFilter
from adapters.servicebus.filters.errors import FilterEvaluationError
from adapters.servicebus.filters.message import MessageView
from adapters.servicebus.filters.properties import user_reader
from adapters.servicebus.filters.values import equal

_SYSTEM_FIELDS = {
    "correlation_id": "CorrelationId",
    "message_id": "MessageId",
    "to": "To",
    "reply_to": "ReplyTo",
    "subject": "Label",
    "session_id": "SessionId",
    "reply_to_session_id": "ReplyToSessionId",
    "content_type": "ContentType",
}
"""CorrelationFilter field -> the ``MessageView.system`` key it matches."""


def _same(actual: Any, expected: Any) -> bool:
    if actual is None:
        return expected is None
    if type(actual) is type(expected):
        return bool(actual == expected)
    try:
        return equal(actual, expected) is True
    except FilterEvaluationError:
        return False


def compile_correlation_filter(rule_filter: CorrelationFilter) -> Callable[[MessageView], bool]:
    """True when every field the filter sets, and every property it lists, equals the message's."""
    system = tuple(
        (key, getattr(rule_filter, field))
        for field, key in _SYSTEM_FIELDS.items()
        if getattr(rule_filter, field) is not None
    )
    user = tuple((user_reader(name), expected) for name, expected in rule_filter.properties.items())

    def matches(message: MessageView) -> bool:
        values = message.system
        for key, expected in system:
            if values.get(key) != expected:
                return False
        return all(_same(read(message), expected) for read, expected in user)

    return matches
