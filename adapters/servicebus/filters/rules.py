"""The two entry points: a rule's filter and its action, each compiled once into a function."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from adapters.servicebus.entities import CorrelationFilter, FalseFilter, Filter, SqlFilter, SqlRuleAction, TrueFilter
from adapters.servicebus.filters.actions import compile_sql_action
from adapters.servicebus.filters.correlation import compile_correlation_filter
from adapters.servicebus.filters.message import MessageView
from adapters.servicebus.filters.sql import compile_sql_filter

FilterFunction = Callable[[MessageView], bool]
ActionFunction = Callable[[MessageView], MessageView]


def _match_all(message: MessageView) -> bool:
    return True


def _match_none(message: MessageView) -> bool:
    return False


def compile_filter(rule_filter: Filter) -> FilterFunction:
    """The function that decides whether a message matches ``rule_filter``.

    Raises RuleSyntaxError for a SQL filter the service would refuse; the returned function
    raises FilterEvaluationError when a SQL filter cannot be evaluated on a message.
    """
    match rule_filter:
        case TrueFilter():
            return _match_all
        case FalseFilter():
            return _match_none
        case CorrelationFilter():
            return compile_correlation_filter(rule_filter)
        case SqlFilter():
            return compile_sql_filter(rule_filter.sql_expression, rule_filter.parameters)
        case _:
            assert_never(rule_filter)


def compile_action(action: SqlRuleAction | None) -> ActionFunction | None:
    """The function that applies ``action`` to a matched message (None for a rule without one).

    Raises RuleSyntaxError for an action the service would refuse; the returned function
    returns a new MessageView (the input is not modified) and raises FilterEvaluationError
    when a statement cannot be applied to that message.
    """
    if action is None:
        return None
    return compile_sql_action(action.sql_expression, action.parameters)
