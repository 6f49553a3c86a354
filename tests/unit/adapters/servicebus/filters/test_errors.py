"""Rules the service refuses at creation (RuleSyntaxError) and rules that fail on a message
(FilterEvaluationError), kept apart because the first is a 400 and the second a dead letter."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from adapters.servicebus.entities import SqlFilter, SqlRuleAction
from adapters.servicebus.filters import (
    FilterEvaluationError,
    MessageView,
    RuleSyntaxError,
    compile_action,
    compile_filter,
)


def _compile(expression: str, parameters: dict[str, object] | None = None) -> Any:
    return compile_filter(SqlFilter(expression, parameters or {}))


def _evaluate(expression: str, user: dict[str, Any] | None = None, system: dict[str, Any] | None = None) -> bool:
    return _compile(expression)(MessageView(system=system or {}, user=user or {}))


# -- creation-time errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "a = ",
            "There was an error parsing the SQL expression. [Token line=1, column=5, Token in error= ,"
            " Additional details= Unexpected end of the expression.]",
        ),
        (
            "a == 1",
            "There was an error parsing the SQL expression. [Token line=1, column=4, Token in error= =,"
            " Additional details= Unexpected token '='.]",
        ),
        (
            "a = 1\nAND b # 2",
            "There was an error parsing the SQL expression. [Token line=2, column=7, Token in error= #,"
            " Additional details= Unrecognized character. '#']",
        ),
        (
            "a = 'open",
            "There was an error parsing the SQL expression. [Token line=1, column=5, Token in error= ',"
            " Additional details= The string constant is not closed with a single quote.]",
        ),
        (
            "a = @missing",
            "There was an error parsing the SQL expression. [Token line=1, column=5, Token in error= @missing,"
            " Additional details= The parameter '@missing' is not defined.]",
        ),
        (
            "a = 9223372036854775808",
            "There was an error parsing the SQL expression. [Token line=1, column=5,"
            " Token in error= 9223372036854775808, Additional details= The integer constant is outside the range"
            " of Int64.]",
        ),
    ],
)
def test_syntax_error_messages(expression: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        _compile(expression)
    assert caught.value.message == message
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "a",
        "TRUE",
        "a + 1",
        "a = 1 AND",
        "AND a = 1",
        "a = 1 b = 2",
        "(a = 1",
        "a = 1)",
        "a IN ()",
        "a IN 1, 2",
        "a LIKE",
        "a IS 1",
        "a = = 1",
        "1 = 1 = 1",
        "(a = 1) + 1 = 2",
        "a = (b = 1)",
        "NOT a",
        "a = 1 OR 2",
        "EXISTS(1)",
        "EXISTS(a + 1)",
        "x.y = 1",
        "sys.a.b = 1",
        "_a = 1",
        "1a = 1",
        "a = 'x' + ",
        "a = [unclosed",
        'a = "unclosed',
        "a = b /* comment */",
        "and = 1",
        "a LIKE 'x' ESCAPE 'ab'",
        "a LIKE 'x!' ESCAPE '!'",
        "a LIKE 5",
        "foo(1) = 1",
        "newid(1) = 1",
        "p() = 1",
        "SET a = 1",
    ],
)
def test_invalid_filters_are_refused(expression: str) -> None:
    with pytest.raises(RuleSyntaxError):
        _compile(expression)


def test_unsupported_parameter_type_is_refused() -> None:
    with pytest.raises(RuleSyntaxError, match="Parameters of type list are not supported"):
        _compile("a = @p", {"@p": [1, 2]})


def test_expression_length_limit_is_1024_characters() -> None:
    padding = "a = '" + "x" * 1014 + "'"
    assert len(padding) == 1020
    _compile(padding + "    ")
    with pytest.raises(RuleSyntaxError, match="1025 characters long; at most 1024"):
        _compile(padding + "     ")


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(RuleSyntaxError):
        _compile("-" * 1000 + "a = 1")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("SET sys.SequenceNumber = 1", "The system property 'sys.SequenceNumber' cannot be changed by a rule action."),
        ("SET sys.EnqueuedTimeUtc = NULL", "The system property 'sys.EnqueuedTimeUtc' cannot be changed"),
        ("REMOVE sys.DeliveryCount", "The system property 'sys.DeliveryCount' cannot be changed"),
        ("SET sys.Nope = 1", "The system property 'sys.Nope' does not exist."),
        ("REMOVE sys.TimeToLive", "The system property 'sys.TimeToLive' cannot be removed."),
        ("SET a = 1;;", "Unexpected token ';'"),
        ("SET a = 1 AND b = 2", "Unexpected token 'AND'"),
        ("SET a > 1", "Unexpected token '>'"),
        ("REMOVE", "Unexpected end of the expression."),
        ("a = 1", "Unexpected token 'a'"),
        ("SET a = @p", "The parameter '@p' is not defined."),
        ("", "Unexpected end of the expression."),
        (";".join(f"SET a{i} = {i}" for i in range(33)), "The SQL action has 33 statements; at most 32 are allowed."),
        ("SET a = '" + "x" * 1020 + "'", "1030 characters long; at most 1024"),
    ],
)
def test_invalid_actions_are_refused(action: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError, match=re.escape(message)):
        compile_action(SqlRuleAction(action))


def test_thirty_two_action_statements_are_allowed() -> None:
    apply = compile_action(SqlRuleAction(";".join(f"SET a{i} = {i}" for i in range(32))))
    assert apply is not None
    assert len(apply(MessageView()).user) == 32


# -- evaluation errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "system", "message"),
    [
        ("a = 'x'", {"a": 1}, {}, "Cannot compare a value of type Int64 with a value of type String."),
        ("a > 1", {"a": 1.5j}, {}, "Values of type complex are not supported in rule expressions."),
        ("a = 1", {"a": True}, {}, "Cannot compare a value of type Boolean with a value of type Int64."),
        ("a > b", {"a": True, "b": False}, {}, "Values of type Boolean can only be compared with = and <>."),
        ("a IN ('x', 'y')", {"a": 3}, {}, "Cannot compare a value of type Int64 with a value of type String."),
        ("a / 0 = 1", {"a": 1}, {}, "Attempted to divide by zero."),
        ("a % b = 1", {"a": 1, "b": 0}, {}, "Attempted to divide by zero."),
        ("a - 'b' = 'c'", {"a": "a"}, {}, "The operator '-' cannot be applied to values of type String and String."),
        ("a + 1 = 2", {"a": "1"}, {}, "The operator '+' cannot be applied to values of type String and Int64."),
        ("-a = 1", {"a": "x"}, {}, "The operator '-' cannot be applied to a value of type String."),
        ("+a = 1", {"a": True}, {}, "The operator '+' cannot be applied to a value of type Boolean."),
        ("a LIKE 'x%'", {"a": 5}, {}, "LIKE needs String operands, not a value of type Int64."),
        ("'x' LIKE p", {"p": 5}, {}, "LIKE needs String operands, not a value of type Int64."),
        (
            "'x' LIKE 'x' ESCAPE e",
            {"e": "ab"},
            {},
            "The escape character 'ab' of a LIKE must be exactly one character.",
        ),
        ("sys.Lable = 'x'", {}, {"Label": "x"}, "The system property 'sys.Lable' does not exist."),
        ("EXISTS(sys.Nope)", {}, {}, "The system property 'sys.Nope' does not exist."),
        ("property('sys.Nope') = 1", {}, {}, "The system property 'sys.Nope' does not exist."),
        ("property(a) = 1", {"a": 5}, {}, "property() needs a String name, not a value of type Int64."),
    ],
)
def test_evaluation_errors(expression: str, user: dict[str, Any], system: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterEvaluationError, match=f"^{re.escape(message)}$"):
        _evaluate(expression, user, system)


@pytest.mark.parametrize(
    ("action", "system", "message"),
    [
        ("SET sys.Label = 5", {}, "A value of type Int64 cannot be assigned to sys.Label."),
        ("SET sys.TimeToLive = NULL", {}, "A value of type NULL cannot be assigned to sys.TimeToLive."),
        ("SET sys.TimeToLive = 60", {}, "A value of type Int64 cannot be assigned to sys.TimeToLive."),
        ("SET x = sys.Nope", {}, "The system property 'sys.Nope' does not exist."),
        ("SET x = sys.Label + 1", {"Label": "a"}, "The operator '+' cannot be applied to values of type String"),
    ],
)
def test_action_evaluation_errors(action: str, system: dict[str, Any], message: str) -> None:
    apply = compile_action(SqlRuleAction(action))
    assert apply is not None
    with pytest.raises(FilterEvaluationError, match=re.escape(message)):
        apply(MessageView(system=system, user={}))


def test_evaluation_error_is_not_a_syntax_error() -> None:
    # The broker must be able to tell them apart: one is a 400, the other a dead letter.
    assert not issubclass(FilterEvaluationError, RuleSyntaxError)
    assert not issubclass(RuleSyntaxError, FilterEvaluationError)
    assert _compile("sys.TimeToLive > @t", {"@t": timedelta(0)}) is not None
