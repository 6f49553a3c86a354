"""How SQL rule operators treat values: comparison, arithmetic and LIKE, in the service's terms.

The service documents its operators as C# operator binding with implicit conversions, and
missing values as "unknown" (None here). So: numbers compare and combine across int,
float and Decimal (integer arithmetic is Int64: truncating division, remainder with the
dividend's sign, wrap-around on overflow, an error on division by zero; float arithmetic
follows IEEE, so ``1.0 / 0`` is infinity); strings compare by ordinal (case-sensitive)
and ``+`` concatenates two strings; datetimes and timespans compare and combine as in .NET
(``DateTime - DateTime`` is a TimeSpan); booleans, GUIDs and byte arrays only support
``=`` and ``<>``. Any other pairing has no C# operator, which the service reports as an
evaluation failure: ``FilterEvaluationError``.
"""

from __future__ import annotations

import math
import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, DecimalException
from functools import lru_cache
from typing import Any

from adapters.servicebus.filters.errors import FilterEvaluationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

NUMBER, STRING, BOOLEAN, DATETIME, TIMESPAN, GUID, BYTES = (
    "Number",
    "String",
    "Boolean",
    "DateTime",
    "TimeSpan",
    "Guid",
    "Byte[]",
)

_KINDS: dict[type, str] = {
    int: NUMBER,
    float: NUMBER,
    Decimal: NUMBER,
    str: STRING,
    bool: BOOLEAN,
    datetime: DATETIME,
    timedelta: TIMESPAN,
    uuid.UUID: GUID,
    bytes: BYTES,
}
_NET_NAMES = {int: "Int64", float: "Double", Decimal: "Decimal"}


def kind_of(value: Any) -> str:
    """The operator family of a (non-None) value; unsupported types are an evaluation error."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    for python_type, subclass_kind in _KINDS.items():
        # bool is an int subclass but must never be taken for a number: exact types come first.
        if python_type is not int and isinstance(value, python_type):
            return subclass_kind
    if isinstance(value, int):
        return NUMBER
    raise FilterEvaluationError(f"Values of type {type(value).__name__} are not supported in rule expressions.")


def type_name(value: Any) -> str:
    """The .NET name of a value's type, as the service's messages would name it."""
    for python_type, name in _NET_NAMES.items():
        if type(value) is python_type:
            return name
    return kind_of(value)


# -- comparison ----------------------------------------------------------------------------

Comparison = Callable[[Any, Any], bool]

COMPARISONS: dict[str, Comparison] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
MIRRORED = {"=": "=", "<>": "<>", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_EQUALITY = (operator.eq, operator.ne)
_UNORDERED = (BOOLEAN, GUID, BYTES)


def _utc(value: datetime) -> datetime:
    # A naive datetime is taken as UTC, as the service stores every instant in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def compare(op: Comparison, left: Any, right: Any) -> bool | None:
    """``left op right`` with SQL NULL (None: unknown) and C# operator rules."""
    if left is None or right is None:
        return None
    left_kind, right_kind = kind_of(left), kind_of(right)
    if left_kind != right_kind:
        raise FilterEvaluationError(
            f"Cannot compare a value of type {type_name(left)} with a value of type {type_name(right)}."
        )
    if left_kind == NUMBER:
        left, right = _promoted(left, right)
    elif left_kind == DATETIME:
        left, right = _utc(left), _utc(right)
    elif left_kind in _UNORDERED and op not in _EQUALITY:
        raise FilterEvaluationError(f"Values of type {left_kind} can only be compared with = and <>.")
    return op(left, right)


def _promoted(left: Any, right: Any) -> tuple[Any, Any]:
    """Two numbers in the type C# would promote them to (Decimal meeting float becomes float)."""
    if type(left) is Decimal and isinstance(right, float):
        return float(left), right
    if type(right) is Decimal and isinstance(left, float):
        return left, float(right)
    return left, right


def equal(left: Any, right: Any) -> bool | None:
    return compare(operator.eq, left, right)


# -- arithmetic ----------------------------------------------------------------------------


def _wrapped(value: int) -> int:
    """Int64 arithmetic wraps around, as unchecked C# does."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    return (value - INT64_MIN) % 2**64 + INT64_MIN


def _int_divide(left: int, right: int) -> int:
    if right == 0:
        raise FilterEvaluationError("Attempted to divide by zero.")
    quotient = abs(left) // abs(right)
    return _wrapped(quotient if (left < 0) == (right < 0) else -quotient)


def _int_remainder(left: int, right: int) -> int:
    if right == 0:
        raise FilterEvaluationError("Attempted to divide by zero.")
    remainder = abs(left) % abs(right)
    return remainder if left >= 0 else -remainder


def _float_divide(left: float, right: float) -> float:
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _float_remainder(left: float, right: float) -> float:
    if right == 0 or math.isinf(left):
        return math.nan
    return math.fmod(left, right)


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: _wrapped(a + b),
    "-": lambda a, b: _wrapped(a - b),
    "*": lambda a, b: _wrapped(a * b),
    "/": _int_divide,
    "%": _int_remainder,
}
_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _float_divide,
    "%": _float_remainder,
}
_DECIMAL_OPS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
_TEMPORAL_RESULTS = {
    (DATETIME, "-", DATETIME),
    (DATETIME, "+", TIMESPAN),
    (DATETIME, "-", TIMESPAN),
    (TIMESPAN, "+", DATETIME),
    (TIMESPAN, "+", TIMESPAN),
    (TIMESPAN, "-", TIMESPAN),
}


def arithmetic(symbol: str, left: Any, right: Any) -> Any:
    """``left symbol right``: unknown when either side is, otherwise C# semantics."""
    if left is None or right is None:
        return None
    left_kind, right_kind = kind_of(left), kind_of(right)
    if left_kind == NUMBER and right_kind == NUMBER:
        return _numeric(symbol, left, right)
    if left_kind == STRING and right_kind == STRING and symbol == "+":
        return left + right
    if (left_kind, symbol, right_kind) in _TEMPORAL_RESULTS:
        if left_kind == DATETIME and right_kind == DATETIME:
            return _utc(left) - _utc(right)
        return left + right if symbol == "+" else left - right
    raise FilterEvaluationError(
        f"The operator '{symbol}' cannot be applied to values of type {type_name(left)} and {type_name(right)}."
    )


def _numeric(symbol: str, left: Any, right: Any) -> Any:
    if isinstance(left, float) or isinstance(right, float):
        return _FLOAT_OPS[symbol](float(left), float(right))
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        try:
            return _DECIMAL_OPS[symbol](Decimal(left), Decimal(right))
        except (ZeroDivisionError, DecimalException):
            raise FilterEvaluationError("Attempted to divide by zero.") from None
    return _INT_OPS[symbol](int(left), int(right))


def negate(value: Any) -> Any:
    if value is None:
        return None
    kind = kind_of(value)
    if kind == NUMBER:
        return _wrapped(-value) if isinstance(value, int) else -value
    if kind == TIMESPAN:
        return -value
    raise FilterEvaluationError(f"The operator '-' cannot be applied to a value of type {type_name(value)}.")


def identity(value: Any) -> Any:
    """Unary ``+``: only defined on numbers and timespans."""
    if value is not None and kind_of(value) not in (NUMBER, TIMESPAN):
        raise FilterEvaluationError(f"The operator '+' cannot be applied to a value of type {type_name(value)}.")
    return value


# -- LIKE ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def like_pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    """The regular expression of a LIKE pattern: ``%`` any run, ``_`` any one character,
    the escape character makes the next character literal. Case-sensitive (ordinal)."""
    if escape is not None and len(escape) != 1:
        raise FilterEvaluationError(f"The escape character '{escape}' of a LIKE must be exactly one character.")
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == escape:
            literal = next(chars, None)
            if literal is None:
                raise FilterEvaluationError(f"The LIKE pattern '{pattern}' ends with its escape character.")
            parts.append(re.escape(literal))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def like(value: Any, pattern: Any, escape: Any) -> bool | None:
    """``value LIKE pattern [ESCAPE escape]`` when the pattern is only known per message."""
    if value is None or pattern is None:
        return None
    for operand in (value, pattern) if escape is None else (value, pattern, escape):
        if not isinstance(operand, str):
            raise FilterEvaluationError(f"LIKE needs String operands, not a value of type {type_name(operand)}.")
    return like_pattern(pattern, escape).fullmatch(value) is not None
