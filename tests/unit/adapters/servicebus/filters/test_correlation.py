"""Correlation filters: every field the filter sets, and every property it lists, must be equal."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.servicebus.entities import CorrelationFilter
from adapters.servicebus.filters import MessageView, compile_filter

INVOICES = CorrelationFilter(content_type="application/json", subject="invoice", properties={"tenant": "contoso"})
"""The ``invoice-correlation`` rule of the shared emulator config (ContentType, Label, Properties)."""

_MATCHING_SYSTEM = {"ContentType": "application/json", "Label": "invoice", "MessageId": "m"}


@pytest.mark.parametrize(
    ("system", "user", "expected"),
    [
        (_MATCHING_SYSTEM, {"tenant": "contoso"}, True),
        (_MATCHING_SYSTEM, {"tenant": "contoso", "other": 1}, True),
        (_MATCHING_SYSTEM, {"Tenant": "contoso"}, True),
        (_MATCHING_SYSTEM, {"tenant": "Contoso"}, False),
        (_MATCHING_SYSTEM, {"tenant": "fabrikam"}, False),
        (_MATCHING_SYSTEM, {}, False),
        (_MATCHING_SYSTEM, {"tenant": None}, False),
        ({**_MATCHING_SYSTEM, "ContentType": "Application/JSON"}, {"tenant": "contoso"}, False),
        ({**_MATCHING_SYSTEM, "Label": "Invoice"}, {"tenant": "contoso"}, False),
        ({"ContentType": "application/json"}, {"tenant": "contoso"}, False),
        ({**_MATCHING_SYSTEM, "Label": None}, {"tenant": "contoso"}, False),
    ],
)
def test_sample_correlation_rule(system: dict[str, Any], user: dict[str, Any], expected: bool) -> None:
    assert compile_filter(INVOICES)(MessageView(system=system, user=user)) is expected


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("correlation_id", "CorrelationId"),
        ("message_id", "MessageId"),
        ("to", "To"),
        ("reply_to", "ReplyTo"),
        ("subject", "Label"),
        ("session_id", "SessionId"),
        ("reply_to_session_id", "ReplyToSessionId"),
        ("content_type", "ContentType"),
    ],
)
def test_each_system_field(field: str, key: str) -> None:
    rule_filter = CorrelationFilter()
    setattr(rule_filter, field, "v")
    rule = compile_filter(rule_filter)
    assert rule(MessageView(system={key: "v"})) is True
    assert rule(MessageView(system={key: "V"})) is False
    assert rule(MessageView(system={})) is False


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (5, 5, True),
        (5, 5.0, True),
        (5, 6, False),
        (5, "5", False),
        (True, True, True),
        (True, 1, False),
        (1, True, False),
        ("x", b"x", False),
    ],
)
def test_property_values_compare_like_sql_equality_without_failing(expected: Any, actual: Any, matches: bool) -> None:
    rule = compile_filter(CorrelationFilter(properties={"n": expected}))
    assert rule(MessageView(user={"n": actual})) is matches


def test_filter_without_conditions_matches_everything() -> None:
    assert compile_filter(CorrelationFilter())(MessageView(system={"MessageId": "m"})) is True


def test_correlation_id_only() -> None:
    rule = compile_filter(CorrelationFilter(correlation_id="Contoso"))
    assert rule(MessageView(system={"CorrelationId": "Contoso"}, user={"x": 1})) is True
    assert rule(MessageView(system={"CorrelationId": "contoso"})) is False
