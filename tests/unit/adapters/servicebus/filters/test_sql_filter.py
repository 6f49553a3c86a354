"""SQL filters evaluated against messages, each case with the exact outcome the service gives.

Outcomes are three-valued inside a filter; a filter matches only when TRUE. ``state``
tells the three apart by evaluating both ``P`` and ``NOT (P)``: TRUE matches only the
first, FALSE only the second, UNKNOWN neither.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.servicebus.entities import FalseFilter, SqlFilter, TrueFilter
from adapters.servicebus.filters import FilterEvaluationError, MessageView, compile_filter

SAMPLE = "priority > 5 AND region IN ('eu', 'us') AND sys.Label LIKE 'order%'"
"""The ``priority-and-region`` rule of the shared emulator config (topic ``events``)."""


def matches(
    expression: str,
    user: dict[str, Any] | None = None,
    system: dict[str, Any] | None = None,
    parameters: dict[str, object] | None = None,
) -> bool:
    rule = compile_filter(SqlFilter(expression, parameters or {}))
    return rule(MessageView(system=system or {}, user=user or {}))


def state(expression: str, user: dict[str, Any] | None = None) -> str:
    positive, negative = matches(expression, user), matches(f"NOT ({expression})", user)
    assert not (positive and negative)
    return "T" if positive else "F" if negative else "U"


# -- the sample rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "system", "expected"),
    [
        ({"priority": 7, "region": "eu"}, {"Label": "order-1"}, True),
        ({"priority": 6, "region": "us"}, {"Label": "order"}, True),
        ({"priority": 5, "region": "eu"}, {"Label": "order-1"}, False),
        ({"priority": 5.5, "region": "eu"}, {"Label": "order-1"}, True),
        ({"priority": Decimal("5.01"), "region": "eu"}, {"Label": "order-1"}, True),
        ({"priority": 7, "region": "EU"}, {"Label": "order-1"}, False),
        ({"priority": 7, "region": "apac"}, {"Label": "order-1"}, False),
        ({"priority": 7, "region": "eu"}, {"Label": "Order-1"}, False),
        ({"priority": 7, "region": "eu"}, {"Label": "invoice"}, False),
        ({"priority": 7, "region": "eu"}, {}, False),
        ({"region": "eu"}, {"Label": "order-1"}, False),
        ({"Priority": 7, "REGION": "eu"}, {"Label": "order-1"}, True),
    ],
)
def test_sample_rule(user: dict[str, Any], system: dict[str, Any], expected: bool) -> None:
    assert matches(SAMPLE, user, system) is expected


def test_sample_rule_with_a_string_priority_is_an_evaluation_error() -> None:
    expected = "Cannot compare a value of type String with a value of type Int64."
    with pytest.raises(FilterEvaluationError, match=f"^{expected}$"):
        matches(SAMPLE, {"priority": "7", "region": "eu"}, {"Label": "order-1"})


# -- boolean filters -----------------------------------------------------------------------


def test_true_and_false_filters() -> None:
    message = MessageView(system={"MessageId": "m"}, user={"a": 1})
    assert compile_filter(TrueFilter())(message) is True
    assert compile_filter(FalseFilter())(message) is False
    assert matches("1=1") is True
    assert matches("1=0") is False


# -- NULL and three-valued logic -----------------------------------------------------------

# x = 1 is TRUE for x=1, FALSE for x=2 and UNKNOWN when x is missing.
_OPERANDS = {"T": 1, "F": 2, "U": None}


@pytest.mark.parametrize(
    ("left", "right", "and_result", "or_result"),
    [
        ("T", "T", "T", "T"),
        ("T", "F", "F", "T"),
        ("T", "U", "U", "T"),
        ("F", "T", "F", "T"),
        ("F", "F", "F", "F"),
        ("F", "U", "F", "U"),
        ("U", "T", "U", "T"),
        ("U", "F", "F", "U"),
        ("U", "U", "U", "U"),
    ],
)
def test_and_or_truth_tables(left: str, right: str, and_result: str, or_result: str) -> None:
    user = {name: value for name, value in (("x", _OPERANDS[left]), ("y", _OPERANDS[right])) if value is not None}
    assert state("x = 1 AND y = 1", user) == and_result
    assert state("x = 1 OR y = 1", user) == or_result


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("x = 1", {}, "U"),
        ("x <> 1", {}, "U"),
        ("x = NULL", {"x": 1}, "U"),
        ("NULL = NULL", {}, "U"),
        ("x > 1", {"x": None}, "U"),
        ("x + 1 = 2", {}, "U"),
        ("-x = -1", {}, "U"),
        ("x LIKE 'a%'", {}, "U"),
        ("'abc' LIKE x", {}, "U"),
        ("'abc' LIKE 'a%' ESCAPE x", {}, "U"),
        ("x IN (1, 2)", {}, "U"),
        ("x NOT IN (1, 2)", {}, "U"),
        ("x IN (1, NULL)", {"x": 2}, "F"),
        ("x IN (1, NULL)", {"x": 1}, "T"),
        ("x IS NULL", {}, "T"),
        ("x IS NULL", {"x": None}, "T"),
        ("x IS NULL", {"x": 0}, "F"),
        ("x IS NOT NULL", {"x": ""}, "T"),
        ("x IS NOT NULL", {}, "F"),
        ("EXISTS(x)", {"x": None}, "T"),
        ("EXISTS(x)", {"X": 1}, "T"),
        ("EXISTS(x)", {}, "F"),
        ("EXISTS(sys.CorrelationId)", {}, "F"),
        ("NOT NOT x = 1", {"x": 1}, "T"),
    ],
)
def test_null_semantics(expression: str, user: dict[str, Any], expected: str) -> None:
    assert state(expression, user) == expected


def test_exists_on_a_set_system_property() -> None:
    assert matches("EXISTS(sys.CorrelationId)", system={"CorrelationId": "c"}) is True
    assert matches("sys.CorrelationId IS NULL", system={"CorrelationId": None}) is True


def test_logic_short_circuits_before_a_failing_term() -> None:
    # The right term would fail (Int64 vs String) but is not needed once the left decides.
    assert matches("a = 1 OR b > 'x'", {"a": 1, "b": 5}) is True
    assert matches("a = 2 AND b > 'x'", {"a": 1, "b": 5}) is False
    with pytest.raises(FilterEvaluationError):
        matches("missing = 1 AND b > 'x'", {"b": 5})


# -- precedence ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a = 1 OR b = 1 AND c = 1", {"a": 1, "b": 0, "c": 0}, True),
        ("(a = 1 OR b = 1) AND c = 1", {"a": 1, "b": 0, "c": 0}, False),
        ("NOT a = 1 AND b = 1", {"a": 2, "b": 1}, True),
        ("NOT (a = 1 AND b = 1)", {"a": 1, "b": 2}, True),
        ("NOT a = 1 OR b = 1", {"a": 1, "b": 1}, True),
        ("2 + 3 * 4 = 14", {}, True),
        ("(2 + 3) * 4 = 20", {}, True),
        ("10 - 4 - 3 = 3", {}, True),
        ("16 / 4 / 2 = 2", {}, True),
        ("-2 * 3 = -6", {}, True),
        ("- -2 = 2", {}, True),
        ("2 * -3 + +1 = -5", {}, True),
        ("10 - 2 * 3 % 4 = 8", {}, True),
        ("((((a)))) + 1 = 2", {"a": 1}, True),
        ("a like 'x%' and b in (1) or not exists(c)", {"a": "y"}, True),
        ("a LiKe 'x%' AnD b NoT iN (1)", {"a": "xy", "b": 2}, True),
    ],
)
def test_precedence(expression: str, user: dict[str, Any], expected: bool) -> None:
    assert matches(expression, user) is expected


# -- literals, names and escapes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a = 'it''s'", {"a": "it's"}, True),
        ("a = ''", {"a": ""}, True),
        ("a = 'Grüße, 東京'", {"a": "Grüße, 東京"}, True),
        ("[my prop] = 1", {"my prop": 1}, True),
        ("[a]]b] = 1", {"a]b": 1}, True),
        ("[HR-EmployeeID] = 1", {"HR-EmployeeID": 1}, True),
        ('"Contoso & Northwind" = 1', {"Contoso & Northwind": 1}, True),
        ('"q""x" = 1', {'q"x': 1}, True),
        ("user.[my prop] = 1", {"my prop": 1}, True),
        ("USER.a = 1", {"a": 1}, True),
        ("größe = 1", {"Größe": 1}, True),
        ("a_1 = 1", {"A_1": 1}, True),
        ("andrew = 1 AND order_no = 2", {"andrew": 1, "order_no": 2}, True),
        ("a = 1.5", {"a": 1.5}, True),
        ("a = 2.", {"a": 2}, True),
        ("a = .5", {"a": 0.5}, True),
        ("a = 101.5E5", {"a": 10150000}, True),
        ("a = 0.5e-2", {"a": 0.005}, True),
        ("a = 1e3", {"a": 1000}, True),
        ("a = TRUE", {"a": True}, True),
        ("a = false", {"a": False}, True),
        ("a <> TRUE", {"a": False}, True),
        ("a = 9223372036854775807", {"a": 2**63 - 1}, True),
        ("a = -9223372036854775808", {"a": -(2**63)}, True),
    ],
)
def test_literals_and_names(expression: str, user: dict[str, Any], expected: bool) -> None:
    assert matches(expression, user) is expected


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("a LIKE 'order%'", "order", True),
        ("a LIKE 'order%'", "orders-2", True),
        ("a LIKE 'order%'", "my order", False),
        ("a LIKE '%bus%'", "servicebus topic", True),
        ("a LIKE '%bus'", "bus stop", False),
        ("a LIKE 'A_C'", "ABC", True),
        ("a LIKE 'A_C'", "AC", False),
        ("a LIKE 'A_C'", "ABBC", False),
        ("a LIKE 'abc'", "ABC", False),
        ("a LIKE 'a.c'", "abc", False),
        ("a LIKE 'a.c'", "a.c", True),
        ("a LIKE '(x)*%'", "(x)*+?", True),
        ("a LIKE '%'", "", True),
        ("a LIKE '_'", "", False),
        ("a LIKE 'x%y'", "x\ny", True),
        ("a LIKE 'ABC\\%' ESCAPE '\\'", "ABC%", True),
        ("a LIKE 'ABC\\%' ESCAPE '\\'", "ABCD", False),
        ("a LIKE '100!%' ESCAPE '!'", "100%", True),
        ("a LIKE 'a!_b' ESCAPE '!'", "a_b", True),
        ("a LIKE 'a!_b' ESCAPE '!'", "axb", False),
        ("a LIKE 'a!!b' ESCAPE '!'", "a!b", True),
        ("a LIKE '%' + 'z'", "xyz", True),
        ("a NOT LIKE 'order%'", "invoice", True),
        ("a NOT LIKE 'order%'", "order-1", False),
    ],
)
def test_like(expression: str, value: str, expected: bool) -> None:
    assert matches(expression, {"a": value}) is expected


def test_like_with_patterns_from_the_message() -> None:
    assert matches("a LIKE p ESCAPE e", {"a": "5%", "p": "5#%", "e": "#"}) is True
    assert matches("a NOT LIKE p", {"a": "abc", "p": "a%"}) is False


# -- IN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a IN ('x', 'y')", {"a": "y"}, True),
        ("a IN ('x', 'y')", {"a": "Y"}, False),
        ("a NOT IN ('x', 'y')", {"a": "z"}, True),
        ("a IN (1, 2, 3)", {"a": 2.0}, True),
        ("a IN (1.5, 2)", {"a": Decimal("1.5")}, True),
        ("a IN (b, c + 1)", {"a": 3, "b": 1, "c": 2}, True),
        ("a IN (b, c)", {"a": 3, "b": 1}, False),
        ("a IN (@x, 'k')", {"a": "k"}, True),
        ("a IN('Store1','Store2')", {"a": "Store2"}, True),
    ],
)
def test_in(expression: str, user: dict[str, Any], expected: bool) -> None:
    assert matches(expression, user, parameters={"@x": "q"}) is expected


# -- types: promotion, arithmetic ----------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "7 / 2 = 3",
        "-7 / 2 = -3",
        "7 % 3 = 1",
        "-7 % 3 = -1",
        "7 % -3 = 1",
        "7.0 / 2 = 3.5",
        "7 / 2.0 = 3.5",
        "5.5 % 2 = 1.5",
        "1 = 1.0",
        "2 > 1.5",
        "9223372036854775807 + 1 = -9223372036854775808",
        "1.0 / 0 > 1.7976931348623157E308",
        "-1.0 / 0 < 0",
        "0.0 / 0 <> 0.0 / 0",
        "'Ada' + ' ' + 'Lovelace' = 'Ada Lovelace'",
        "'b' > 'a'",
        "'B' < 'a'",
    ],
)
def test_constant_arithmetic(expression: str) -> None:
    assert matches(expression) is True


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a = b", {"a": 5, "b": 5.0}, True),
        ("a = b", {"a": Decimal("2.5"), "b": 2.5}, True),
        ("a < b", {"a": Decimal("2"), "b": 3}, True),
        ("a + b = 3.5", {"a": Decimal("1"), "b": 2.5}, True),
        ("a * 2 = 5", {"a": Decimal("2.5")}, True),
        ("a / 2 = 1.25", {"a": Decimal("2.5")}, True),
        ("a = b", {"a": "x", "b": "x"}, True),
        ("a = b", {"a": True, "b": True}, True),
        ("a <> b", {"a": uuid.UUID(int=1), "b": uuid.UUID(int=2)}, True),
        ("a = b", {"a": b"\x01", "b": b"\x01"}, True),
        ("a < b", {"a": datetime(2024, 1, 1), "b": datetime(2024, 1, 1, 0, 1, tzinfo=UTC)}, True),
        ("a = b", {"a": datetime(2024, 1, 1), "b": datetime(2024, 1, 1, tzinfo=UTC)}, True),
        ("a - b = c", {"a": datetime(2024, 1, 2), "b": datetime(2024, 1, 1), "c": timedelta(days=1)}, True),
        ("a + c > a", {"a": datetime(2024, 1, 1), "c": timedelta(seconds=1)}, True),
        ("-c < c", {"c": timedelta(seconds=1)}, True),
    ],
)
def test_type_promotion(expression: str, user: dict[str, Any], expected: bool) -> None:
    assert matches(expression, user) is expected


def test_nan_property_never_equals() -> None:
    assert matches("a = a", {"a": math.nan}) is False
    assert matches("a <> 1", {"a": math.nan}) is True


# -- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "parameters", "user", "expected"),
    [
        ("source = @stringParam", {"@stringParam": "orders"}, {"source": "orders"}, True),
        ("source = @stringParam", {"stringParam": "orders"}, {"source": "orders"}, True),
        ("source = @STRINGPARAM", {"@stringParam": "orders"}, {"source": "orders"}, True),
        ("n > @i AND f < @f AND b = @b", {"@i": 1, "@f": 2.5, "@b": True}, {"n": 2, "f": 1, "b": True}, True),
        ("DateTimeMp < @dtParam", {"@dtParam": datetime(2020, 7, 5)}, {"DateTimeMp": datetime(2020, 1, 1)}, True),
        (
            "(DateTimeMp2-DateTimeMp1) <= @timespan",
            {"@timespan": timedelta(hours=1)},
            {"DateTimeMp1": datetime(2020, 1, 1, 10), "DateTimeMp2": datetime(2020, 1, 1, 11)},
            True,
        ),
        ("a = @n", {"@n": None}, {"a": 1}, False),
        ("@n IS NULL", {"@n": None}, {}, True),
        ("@g = g", {"@g": uuid.UUID(int=7)}, {"g": uuid.UUID(int=7)}, True),
    ],
)
def test_parameters(expression: str, parameters: dict[str, object], user: dict[str, Any], expected: bool) -> None:
    assert matches(expression, user, parameters=parameters) is expected


# -- system properties and functions -------------------------------------------------------

_SYSTEM = {
    "MessageId": "m-1",
    "CorrelationId": "c-1",
    "SessionId": "s-1",
    "ReplyTo": "replies",
    "ReplyToSessionId": "rs-1",
    "To": "Store5",
    "Label": "order-created",
    "ContentType": "application/json",
    "TimeToLive": timedelta(minutes=5),
    "ScheduledEnqueueTimeUtc": datetime(2024, 5, 1, tzinfo=UTC),
    "EnqueuedTimeUtc": datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC),
    "SequenceNumber": 42,
    "DeliveryCount": 1,
    "Size": 256,
}


@pytest.mark.parametrize(
    "expression",
    [
        "sys.MessageId = 'm-1'",
        "sys.messageid = 'm-1'",
        "sys.correlationid LIKE 'c-%'",
        "sys.SessionId = 's-1' AND sys.ReplyToSessionId = 'rs-1'",
        "sys.ReplyTo = 'replies'",
        "sys.To IN ('Store5','Store6','Store7') OR StoreId = 'Store8'",
        "sys.Label LIKE '%created'",
        "sys.label = 'order-created'",
        "sys.Subject = 'order-created'",
        "SYS.[Label] = 'order-created'",
        "sys.ContentType = 'application/json'",
        "sys.TimeToLive > @five_seconds",
        "sys.EnqueuedTimeUtc > sys.ScheduledEnqueueTimeUtc",
        "sys.EnqueuedTime - sys.ScheduledEnqueueTime = @one_second",
        "sys.SequenceNumber > 10 AND sys.DeliveryCount = 1 AND sys.Size < 1024",
        "sys.PartitionKey IS NULL",
        "MessageId IS NULL",
        "property('sys.Label') = 'order-created'",
        "p('Color') = 'red'",
        "property('user.color') = 'red'",
        "property(NULL) IS NULL",
        "newid() <> newid()",
        "NEWID() IS NOT NULL",
    ],
)
def test_system_properties_and_functions(expression: str) -> None:
    parameters: dict[str, object] = {"@five_seconds": timedelta(seconds=5), "@one_second": timedelta(seconds=1)}
    assert matches(expression, {"color": "red"}, _SYSTEM, parameters) is True
