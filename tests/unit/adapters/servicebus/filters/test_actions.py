"""SQL rule actions: what each statement does to a copy of the message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.servicebus.entities import SqlRuleAction
from adapters.servicebus.filters import MessageView, compile_action


def run(
    action: str,
    user: dict[str, Any] | None = None,
    system: dict[str, Any] | None = None,
    parameters: dict[str, object] | None = None,
) -> MessageView:
    apply = compile_action(SqlRuleAction(action, parameters or {}))
    assert apply is not None
    return apply(MessageView(system=system or {}, user=user or {}))


def test_no_action() -> None:
    assert compile_action(None) is None


def test_sample_action_returns_a_copy() -> None:
    """``SET routed = 'high'`` of the ``priority-and-region`` rule in the shared emulator config."""
    message = MessageView(system={"Label": "order-1"}, user={"priority": 7, "region": "eu"})
    apply = compile_action(SqlRuleAction("SET routed = 'high'"))
    assert apply is not None
    result = apply(message)
    assert result.user == {"priority": 7, "region": "eu", "routed": "high"}
    assert result.system == {"Label": "order-1"}
    assert message.user == {"priority": 7, "region": "eu"}
    assert result.user is not message.user and result.system is not message.system


def test_documented_example() -> None:
    result = run(
        "SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
        {"color": "red", "quantity": 5, "priority": "high"},
        {"CorrelationId": "high", "MessageId": "m"},
    )
    assert result.user == {"color": "red", "quantity": 2}
    assert result.system == {"CorrelationId": "low", "MessageId": "m"}


@pytest.mark.parametrize(
    "action",
    [
        "SET a = 1; SET b = a + 1",
        "SET a = 1 SET b = a + 1",
        "SET a = 1, SET b = a + 1,",
        "set a = 1;\n  set B = A + 1;",
    ],
)
def test_statements_run_in_order_with_any_separator(action: str) -> None:
    result = run(action)
    assert {key.lower(): value for key, value in result.user.items()} == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("action", "user", "expected"),
    [
        ("SET Color = 'blue'", {"color": "red"}, {"color": "blue"}),
        ("SET user.[my prop] = 1", {}, {"my prop": 1}),
        ("SET score = 2", {"score": 1.5}, {"score": 2.0}),
        ("SET amount = 2", {"amount": Decimal("1.5")}, {"amount": Decimal("2")}),
        ("SET n = 'now text'", {"n": 1}, {"n": "now text"}),
        ("SET x = missing", {}, {"x": None}),
        ("SET x = NULL", {"x": 1}, {"x": None}),
        ("SET total = price * qty + @fee", {"price": 2.5, "qty": 4}, {"price": 2.5, "qty": 4, "total": 11.0}),
        ("SET label = sys.Label", {}, {"label": "order-1"}),
        ("SET copy = p('Src')", {"src": "v"}, {"src": "v", "copy": "v"}),
        ("REMOVE PRIORITY", {"priority": 1, "keep": 2}, {"keep": 2}),
        ("REMOVE missing", {"keep": 2}, {"keep": 2}),
        ("REMOVE a; SET a = 3", {"a": 1.5}, {"a": 3}),
    ],
)
def test_user_properties(action: str, user: dict[str, Any], expected: dict[str, Any]) -> None:
    result = run(action, user, {"Label": "order-1"}, {"@fee": 1})
    assert result.user == expected
    assert [type(value) for value in result.user.values()] == [type(value) for value in expected.values()]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("SET sys.Label = 'invoice'", {"Label": "invoice"}),
        ("SET sys.Subject = 'invoice'", {"Label": "invoice"}),
        ("SET sys.To = 'Store1'", {"To": "Store1"}),
        ("SET sys.CorrelationId = sys.MessageId + '-reply'", {"CorrelationId": "m-reply"}),
        ("SET sys.ContentType = 'text/plain'", {"ContentType": "text/plain"}),
        ("SET sys.ReplyTo = 'replies'", {"ReplyTo": "replies"}),
        ("SET sys.SessionId = 's'; SET sys.ReplyToSessionId = 'rs'", {"SessionId": "s", "ReplyToSessionId": "rs"}),
        ("SET sys.PartitionKey = 'pk'", {"PartitionKey": "pk"}),
        ("SET sys.TimeToLive = sys.TimeToLive + @extra", {"TimeToLive": timedelta(minutes=6)}),
        ("SET sys.ScheduledEnqueueTimeUtc = @at", {"ScheduledEnqueueTimeUtc": datetime(2030, 1, 1, tzinfo=UTC)}),
        ("SET sys.ForcePersistence = TRUE", {"ForcePersistence": True}),
        ("REMOVE sys.To", {"To": None}),
        ("SET sys.Label = NULL", {"Label": None}),
    ],
)
def test_writable_system_properties(action: str, expected: dict[str, Any]) -> None:
    system = {"MessageId": "m", "To": "Store9", "TimeToLive": timedelta(minutes=5)}
    parameters: dict[str, object] = {"@extra": timedelta(minutes=1), "@at": datetime(2030, 1, 1, tzinfo=UTC)}
    result = run(action, system=system, parameters=parameters)
    assert result.system == {**system, **expected}
    assert system == {"MessageId": "m", "To": "Store9", "TimeToLive": timedelta(minutes=5)}


def test_newid_sets_a_fresh_guid_per_message() -> None:
    apply = compile_action(SqlRuleAction("SET id = newid()"))
    assert apply is not None
    first, second = apply(MessageView()).user["id"], apply(MessageView()).user["id"]
    assert isinstance(first, uuid.UUID) and first.version == 4
    assert first != second
