"""Helpers shared by the broker tests: a clock the test moves, message builders, a stand-in rule engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.servicebus.broker import Broker, BrokerMessage, MessageCounters
from adapters.servicebus.broker import rules as broker_rules
from adapters.servicebus.entities import SqlFilter, SqlRuleAction


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def message(text: str = "body", **fields: Any) -> BrokerMessage:
    return BrokerMessage(body=text.encode(), **fields)


def bodies(messages: list[BrokerMessage]) -> list[str]:
    return [m.body.decode() for m in messages]


def counters(broker: Broker, path: str) -> MessageCounters:
    [found] = [entry.counters for entry in broker.message_counters() if entry.path == path]
    return found


class FakeEvaluationError(Exception):
    pass


@dataclass(frozen=True)
class FakeView:
    system: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)


def _fake_filter(rule_filter: Any) -> Callable[[FakeView], bool]:
    """SqlFilter text is a Python expression over ``user`` and ``sys``; 'boom' fails to evaluate."""
    assert isinstance(rule_filter, SqlFilter)
    expression = rule_filter.sql_expression

    def match(view: FakeView) -> bool:
        if expression == "boom":
            raise FakeEvaluationError("the filter failed")
        return bool(eval(expression, {}, {"user": view.user, "sys": view.system}))  # noqa: S307 - test input

    return match


def _fake_action(action: Any) -> Callable[[FakeView], FakeView]:
    """SqlRuleAction text is ``name=value``: sets one application property."""
    assert isinstance(action, SqlRuleAction)
    name, _, value = action.sql_expression.partition("=")
    return lambda view: FakeView(dict(view.system), {**view.user, name: value})


FAKE_ENGINE = broker_rules.FilterEngine(_fake_filter, _fake_action, FakeView, FakeEvaluationError)
