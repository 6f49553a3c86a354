"""SQL filter and action texts compiled once into a tree of closures, run per message.

Every node becomes one Python function of the message; predicates return True, False or
None (unknown, SQL's three-valued logic), values return the value or None. Comparisons and
IN lists against constants, and LIKE with a constant pattern, get closures that do the
common case (a str or number property) without the general type dispatch of ``values``.

What is wrong whatever the message is (syntax, a value used as a condition, an unknown
parameter or function) raises RuleSyntaxError here, at rule creation; what depends on the
message raises FilterEvaluationError when it runs. ``actions`` builds on the same compiler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from lark import Token, Tree

from adapters.servicebus.filters.errors import FilterEvaluationError, RuleSyntaxError
from adapters.servicebus.filters.grammar import parse, syntax_error
from adapters.servicebus.filters.message import MessageView
from adapters.servicebus.filters.properties import (
    SystemProperty,
    system_property,
    unknown_system_property,
    user_key,
    user_reader,
)
from adapters.servicebus.filters.values import (
    COMPARISONS,
    INT64_MAX,
    MIRRORED,
    NUMBER,
    arithmetic,
    compare,
    equal,
    identity,
    kind_of,
    like,
    like_pattern,
    negate,
    type_name,
)

Predicate = Callable[[MessageView], bool | None]
Reader = Callable[[MessageView], Any]

_PARAMETER_TYPES = (str, int, float, Decimal, bool, datetime, timedelta, uuid.UUID, bytes)
_FAST_CONSTANTS: dict[type, tuple[type, ...]] = {str: (str,), int: (int, float), float: (int, float)}
"""Constant type -> the value types a comparison with it can decide by a plain Python operator."""


@dataclass(frozen=True, slots=True)
class Value:
    """A compiled value expression; constants keep their value for the fast paths."""

    read: Reader
    constant: bool = False
    value: Any = None


def _constant(value: Any) -> Value:
    return Value(lambda message: value, True, value)


@dataclass(frozen=True, slots=True)
class PropertyRef:
    """A property named in a rule: user scope, or a system property (None when unknown)."""

    name: str
    system: bool
    known: SystemProperty | None = None

    @property
    def text(self) -> str:
        return f"sys.{self.name}" if self.system else self.name


def _position(node: Tree | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    return getattr(node.meta, "line", 1), getattr(node.meta, "column", 1)


def error_at(node: Tree | Token, token: str, details: str) -> RuleSyntaxError:
    """A creation-time error located at a parse-tree node or token."""
    line, column = _position(node)
    return syntax_error(line, column, token, details)


def _identifier(token: Token) -> str:
    text = str(token)
    if token.type == "DELIMITED":
        return text[1:-1].replace("]]", "]")
    if token.type == "QUOTED":
        return text[1:-1].replace('""', '"')
    return text


class ExpressionCompiler:
    """Turns parse-tree nodes into closures; one instance per rule (it holds the parameters)."""

    def __init__(self, parameters: Mapping[str, object]) -> None:
        self._parameters = parameters

    # -- predicates ------------------------------------------------------------------------

    def predicate(self, node: Tree | Token) -> Predicate:
        if isinstance(node, Tree) and node.data in _PREDICATES:
            return _PREDICATES[node.data](self, node)
        raise error_at(node, "", "A value is used where a condition is expected.")

    def _or(self, node: Tree) -> Predicate:
        terms = tuple(self.predicate(child) for child in node.children)

        def any_true(message: MessageView) -> bool | None:
            result: bool | None = False
            for term in terms:
                outcome = term(message)
                if outcome is True:
                    return True
                if outcome is None:
                    result = None
            return result

        return any_true

    def _and(self, node: Tree) -> Predicate:
        terms = tuple(self.predicate(child) for child in node.children)

        def all_true(message: MessageView) -> bool | None:
            result: bool | None = True
            for term in terms:
                outcome = term(message)
                if outcome is False:
                    return False
                if outcome is None:
                    result = None
            return result

        return all_true

    def _not(self, node: Tree) -> Predicate:
        inner = self.predicate(node.children[0])

        def negated(message: MessageView) -> bool | None:
            outcome = inner(message)
            return None if outcome is None else not outcome

        return negated

    def _compare(self, node: Tree) -> Predicate:
        left, symbol_token, right = node.children
        a, b = self.value(left), self.value(right)
        symbol = str(symbol_token)
        if a.constant and not b.constant:
            a, b, symbol = b, a, MIRRORED[symbol]
        op = COMPARISONS[symbol]
        read = a.read
        fast = _FAST_CONSTANTS.get(type(b.value)) if b.constant else None
        if fast is not None:
            constant = b.value

            def against_constant(message: MessageView) -> bool | None:
                value = read(message)
                if type(value) in fast:
                    return op(value, constant)  # type: ignore[no-any-return]
                return compare(op, value, constant)

            return against_constant
        read_right = b.read
        return lambda message: compare(op, read(message), read_right(message))

    def _is_null(self, node: Tree) -> Predicate:
        read = self.value(node.children[0]).read
        return lambda message: read(message) is None

    def _is_not_null(self, node: Tree) -> Predicate:
        read = self.value(node.children[0]).read
        return lambda message: read(message) is not None

    def _in(self, node: Tree) -> Predicate:
        return self._membership(node, negated=False)

    def _not_in(self, node: Tree) -> Predicate:
        return self._membership(node, negated=True)

    def _membership(self, node: Tree, negated: bool) -> Predicate:
        subject, *items = node.children
        read = self.value(subject).read
        values = [self.value(item) for item in items]
        if not all(value.constant for value in values):
            readers = tuple(value.read for value in values)

            def dynamic(message: MessageView) -> bool | None:
                found = read(message)
                if found is None:
                    return None
                return _contains(found, [item(message) for item in readers]) != negated

            return dynamic
        members = tuple(value.value for value in values if value.value is not None)
        types = {type(member) for member in members}
        fast: tuple[type, ...] = ()
        if types == {str}:
            fast = (str,)
        elif types and types <= {int, float}:
            fast = (int, float)
        lookup = frozenset(members) if fast else frozenset()

        def constant_list(message: MessageView) -> bool | None:
            found = read(message)
            if type(found) in fast:
                return (found in lookup) != negated
            if found is None:
                return None
            return _contains(found, members) != negated

        return constant_list

    def _like(self, node: Tree) -> Predicate:
        return self._pattern_match(node, negated=False)

    def _not_like(self, node: Tree) -> Predicate:
        return self._pattern_match(node, negated=True)

    def _pattern_match(self, node: Tree, negated: bool) -> Predicate:
        subject, pattern_node, *rest = node.children
        read = self.value(subject).read
        pattern = self.value(pattern_node)
        escape = self.value(rest[0]) if rest else None
        if pattern.constant and (escape is None or escape.constant):
            return self._constant_pattern(pattern_node, read, pattern.value, escape, negated)
        read_pattern = pattern.read
        read_escape = escape.read if escape is not None else None

        def dynamic(message: MessageView) -> bool | None:
            escape_char = None
            if read_escape is not None:
                escape_char = read_escape(message)
                if escape_char is None:
                    return None
            outcome = like(read(message), read_pattern(message), escape_char)
            return None if outcome is None else outcome != negated

        return dynamic

    def _constant_pattern(
        self, pattern_node: Tree, read: Reader, pattern: Any, escape: Value | None, negated: bool
    ) -> Predicate:
        escape_char = escape.value if escape is not None else None
        if pattern is None or (escape is not None and escape_char is None):
            return lambda message: None
        for operand in (pattern,) if escape is None else (pattern, escape_char):
            if not isinstance(operand, str):
                raise error_at(pattern_node, str(operand), "The pattern and escape character of LIKE must be strings.")
        try:
            match = like_pattern(pattern, escape_char).fullmatch
        except FilterEvaluationError as error:
            raise error_at(pattern_node, pattern, str(error)) from None

        def constant_pattern(message: MessageView) -> bool | None:
            value = read(message)
            if type(value) is str:
                return (match(value) is not None) != negated
            outcome = like(value, pattern, escape_char)
            return None if outcome is None else outcome != negated

        return constant_pattern

    def _exists(self, node: Tree) -> Predicate:
        ref = self.property_ref(node.children[0])
        if not ref.system:
            name, lowered = ref.name, ref.name.lower()
            return lambda message: user_key(message.user, name, lowered) is not None
        read = self._system_reader(ref)
        return lambda message: read(message) is not None

    # -- values ----------------------------------------------------------------------------

    def value(self, node: Tree | Token) -> Value:
        if isinstance(node, Tree) and node.data in _VALUES:
            return _VALUES[node.data](self, node)
        raise error_at(node, "", "A condition is used where a value is expected.")

    def _integer(self, node: Tree, negated: bool = False) -> Value:
        token = node.children[0]
        number = int(str(token))
        # Only a negated literal may reach 2**63: -9223372036854775808 is Int64.MinValue.
        if number > (INT64_MAX + 1 if negated else INT64_MAX):
            raise error_at(token, str(token), "The integer constant is outside the range of Int64.")
        return _constant(-number if negated else number)

    def _decimal(self, node: Tree) -> Value:
        return _constant(float(str(node.children[0])))

    def _string(self, node: Tree) -> Value:
        return _constant(str(node.children[0])[1:-1].replace("''", "'"))

    def _true(self, node: Tree) -> Value:
        return _constant(True)

    def _false(self, node: Tree) -> Value:
        return _constant(False)

    def _null(self, node: Tree) -> Value:
        return _constant(None)

    def _parameter(self, node: Tree) -> Value:
        token = cast(Token, node.children[0])
        name = str(token)
        for key in (name, name[1:]):
            if key in self._parameters:
                return _constant(_parameter_value(token, self._parameters[key]))
        for key, given in self._parameters.items():
            if key.lower() in (name.lower(), name[1:].lower()):
                return _constant(_parameter_value(token, given))
        raise error_at(token, name, f"The parameter '{name}' is not defined.")

    def _negative(self, node: Tree) -> Value:
        operand_node = node.children[1]
        if isinstance(operand_node, Tree) and operand_node.data == "integer":
            return self._integer(operand_node, negated=True)
        operand = self.value(operand_node)
        if operand.constant and operand.value is not None and kind_of(operand.value) == NUMBER:
            return _constant(negate(operand.value))
        read = operand.read
        return Value(lambda message: negate(read(message)))

    def _positive(self, node: Tree) -> Value:
        read = self.value(node.children[1]).read
        return Value(lambda message: identity(read(message)))

    def _arithmetic(self, node: Tree) -> Value:
        left, symbol_token, right = node.children
        read_left, read_right = self.value(left).read, self.value(right).read
        symbol = str(symbol_token)
        return Value(lambda message: arithmetic(symbol, read_left(message), read_right(message)))

    def _function(self, node: Tree) -> Value:
        name_token, *arguments = node.children
        name = str(name_token).lower()
        given = [argument for argument in arguments if argument is not None]
        if name == "newid" and not given:
            return Value(lambda message: uuid.uuid4())
        if name in ("property", "p") and len(given) == 1:
            read = self.value(given[0]).read
            return Value(lambda message: _dynamic_property(message, read(message)))
        details = f"The function '{name_token}' with {len(given)} argument(s) is not supported."
        raise error_at(name_token, str(name_token), details)

    def _property(self, node: Tree) -> Value:
        ref = self.property_ref(node)
        return Value(self._system_reader(ref) if ref.system else user_reader(ref.name))

    def property_ref(self, node: Tree | Token) -> PropertyRef:
        parts = cast(list[Token], cast(Tree, node).children)
        if len(parts) == 1:
            return PropertyRef(_identifier(parts[0]), system=False)
        scope, name = _identifier(parts[0]).lower(), _identifier(parts[1])
        if scope == "user":
            return PropertyRef(name, system=False)
        if scope == "sys":
            return PropertyRef(name, system=True, known=system_property(name))
        raise error_at(parts[0], str(parts[0]), "The scope of a property must be 'sys' or 'user'.")

    def _system_reader(self, ref: PropertyRef) -> Reader:
        if ref.known is None:
            error = unknown_system_property(ref.name)

            def unknown(message: MessageView) -> Any:
                raise error

            return unknown
        key = ref.known.key
        return lambda message: message.system.get(key)


_PREDICATES: dict[str, Callable[[ExpressionCompiler, Tree], Predicate]] = {
    "or_expr": ExpressionCompiler._or,
    "and_expr": ExpressionCompiler._and,
    "not_expr": ExpressionCompiler._not,
    "compare": ExpressionCompiler._compare,
    "is_null": ExpressionCompiler._is_null,
    "is_not_null": ExpressionCompiler._is_not_null,
    "in_list": ExpressionCompiler._in,
    "not_in_list": ExpressionCompiler._not_in,
    "like": ExpressionCompiler._like,
    "not_like": ExpressionCompiler._not_like,
    "exists": ExpressionCompiler._exists,
}
_VALUES: dict[str, Callable[[ExpressionCompiler, Tree], Value]] = {
    "integer": ExpressionCompiler._integer,
    "decimal": ExpressionCompiler._decimal,
    "string": ExpressionCompiler._string,
    "true": ExpressionCompiler._true,
    "false": ExpressionCompiler._false,
    "null": ExpressionCompiler._null,
    "parameter": ExpressionCompiler._parameter,
    "negative": ExpressionCompiler._negative,
    "positive": ExpressionCompiler._positive,
    "arithmetic": ExpressionCompiler._arithmetic,
    "function": ExpressionCompiler._function,
    "property": ExpressionCompiler._property,
}


def _parameter_value(token: Token, value: object) -> object:
    if value is None or isinstance(value, _PARAMETER_TYPES):
        return value
    raise error_at(token, str(token), f"Parameters of type {type(value).__name__} are not supported.")


def _contains(value: Any, members: Sequence[Any]) -> bool:
    """Whether ``value`` equals one of ``members``; NULL members match nothing."""
    return any(member is not None and equal(value, member) for member in members)


def _dynamic_property(message: MessageView, name: Any) -> Any:
    """``property(name)``: the name is only known per message (``sys.`` or ``user.`` allowed)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise FilterEvaluationError(f"property() needs a String name, not a value of type {type_name(name)}.")
    scope, dot, rest = name.partition(".")
    if dot and scope.lower() == "sys":
        known = system_property(rest)
        if known is None:
            raise unknown_system_property(rest)
        return message.system.get(known.key)
    if dot and scope.lower() == "user":
        name = rest
    return user_reader(name)(message)


def guarded(build: Callable[[], Any]) -> Any:
    """``build()``, with nesting too deep for Python's stack reported as a refused rule."""
    try:
        return build()
    except RecursionError:
        raise RuleSyntaxError("The SQL expression is nested too deeply.") from None


def compile_sql_filter(expression: str, parameters: Mapping[str, object]) -> Callable[[MessageView], bool]:
    """A SQL filter as a function that is True only when the expression is TRUE (not unknown)."""
    compiler = ExpressionCompiler(parameters)
    predicate: Predicate = guarded(lambda: compiler.predicate(parse(expression, "filter")))
    return lambda message: predicate(message) is True
