"""OData ``$filter``: a lark grammar, compiled to a Python predicate plus the key range it pins.

Comparisons follow Azure: both sides must be of the same EDM type (``Age gt 5`` never matches
an Int64 ``Age``; that needs ``5L``), and a property missing from an entity, or of another
type, makes that comparison false rather than an error. A literal may stand on either side.
The key range (from top-level ``and`` terms on PartitionKey and RowKey) lets the store scan
only the part of its ordered index the filter can match; the predicate is still applied.
"""

from __future__ import annotations

import binascii
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from adapters.table.edm import (
    BINARY,
    BOOLEAN,
    DATETIME,
    DOUBLE,
    GUID,
    INT32,
    INT32_MAX,
    INT32_MIN,
    INT64,
    INT64_MAX,
    INT64_MIN,
    PARTITION_KEY,
    ROW_KEY,
    STRING,
    parse_datetime,
    parse_guid,
)
from adapters.table.errors import InvalidInput

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: unary (_AND unary)*
?unary: _NOT unary -> not_expr
      | comparison
?comparison: operand COMPOP operand -> compare
           | operand
?operand: "(" or_expr ")"
        | literal
        | NAME -> prop
literal: STRING | DATETIME | GUID | BINARY | INT64 | DOUBLE | INT | TRUE | FALSE

_OR.5: /or\b/i
_AND.5: /and\b/i
_NOT.5: /not\b/i
COMPOP.5: /(eq|ne|gt|ge|lt|le)\b/i
TRUE.5: /true\b/i
FALSE.5: /false\b/i
DATETIME.6: /datetime'[^']*'/i
GUID.6: /guid'[^']*'/i
BINARY.6: /(X|binary)'[^']*'/i
STRING.4: /'(?:[^']|'')*'/
INT64.4: /-?\d+[lL]/
DOUBLE.3: /-?(?:\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)[dDmMfF]?|-?\d+[dDmMfF]/
INT.2: /-?\d+/
NAME.1: /[A-Za-z_][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)

Props = dict[str, tuple[str, Any]]
Predicate = Callable[[Props], bool]
"""A compiled term over a property dict."""
EntityPredicate = Callable[[Any], bool]
"""The compiled filter: true for an object (entity or table) whose ``props`` match."""

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_MIRROR = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


@dataclass(frozen=True)
class KeyRange:
    """Bounds a filter puts on one key: (value, inclusive) or None for unbounded."""

    low: tuple[str, bool] | None = None
    high: tuple[str, bool] | None = None

    @property
    def exact(self) -> str | None:
        if self.low is not None and self.high is not None and self.low == self.high and self.low[1]:
            return self.low[0]
        return None

    @property
    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        (lo, lo_in), (hi, hi_in) = self.low, self.high
        return lo > hi or (lo == hi and not (lo_in and hi_in))

    def narrowed(self, op: str, value: str) -> KeyRange:
        low, high = self.low, self.high
        if op in ("eq", "gt", "ge"):
            bound = (value, op != "gt")
            if low is None or bound[0] > low[0] or (bound[0] == low[0] and not bound[1]):
                low = bound
        if op in ("eq", "lt", "le"):
            bound = (value, op != "lt")
            if high is None or bound[0] < high[0] or (bound[0] == high[0] and not bound[1]):
                high = bound
        return KeyRange(low, high)


Take = Callable[[Iterable[Any], int], list[Any]]
"""Up to ``limit`` of the given entities that match, in order."""


def _take_all(entities: Iterable[Any], limit: int) -> list[Any]:
    return list(islice(entities, limit))


class Filter:
    """A compiled ``$filter``: what a Query Tables or Query Entities request needs of it."""

    def __init__(self, tree: Any = None, partition: KeyRange | None = None, row: KeyRange | None = None) -> None:
        self._tree = tree
        self.partition = partition or KeyRange()
        self.row = row or KeyRange()
        """Only meaningful when the partition range is one exact key."""
        self._predicate: EntityPredicate | None = None
        self.bounds: dict[str, list[Bound]] = {}
        """Non-key properties bounded by top-level terms: what a secondary index can narrow."""
        self.unions: list[tuple[str, list[Bound]]] = []
        """Top-level terms that are an ``or`` of bounds on one property (each bound a choice)."""
        if tree is not None:
            self.bounds, self.unions = _property_bounds(tree)
        self.take: Take = _take_all
        """Up to ``limit`` matches among entities already inside the key range."""
        if tree is not None:
            rest = _residual(tree, self.partition.exact is not None)
            if rest is not None:
                self.take = _taker(rest)

    @property
    def predicate(self) -> EntityPredicate | None:
        """True for an object (entity or table) whose ``props`` match; None when all do."""
        if self._tree is not None and self._predicate is None:
            self._predicate = _predicate(self._tree)
        return self._predicate


# -- literals ------------------------------------------------------------------------------


def _literal(token: Token) -> tuple[str, Any]:
    kind, text = token.type, str(token)
    try:
        if kind == "STRING":
            return STRING, text[1:-1].replace("''", "'")
        if kind == "TRUE":
            return BOOLEAN, True
        if kind == "FALSE":
            return BOOLEAN, False
        if kind == "INT":
            value = int(text)
            if INT32_MIN <= value <= INT32_MAX:
                return INT32, value
            if INT64_MIN <= value <= INT64_MAX:
                return INT64, value
            raise ValueError(text)
        if kind == "INT64":
            value = int(text[:-1])
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValueError(text)
            return INT64, value
        if kind == "DOUBLE":
            return DOUBLE, float(text.rstrip("dDmMfF"))
        quoted = text[text.index("'") + 1 : -1]
        if kind == "DATETIME":
            return DATETIME, parse_datetime(quoted)
        if kind == "GUID":
            return GUID, parse_guid(quoted)
        if kind == "BINARY":
            return BINARY, binascii.unhexlify(quoted)
    except (ValueError, binascii.Error):
        raise InvalidInput(f"The literal {text!r} in the query filter is not valid.") from None
    raise InvalidInput(f"Unexpected token {text!r} in the query filter.")


# -- compiling -----------------------------------------------------------------------------
# Each operand compiles to ("lit", (type, value)), ("prop", name) or ("bool", predicate).


def _operand(node: Any) -> tuple[str, Any]:
    if isinstance(node, Tree):
        if node.data == "literal":
            return "lit", _literal(node.children[0])
        if node.data == "prop":
            return "prop", str(node.children[0])
    return "bool", _compile(node)


def _as_predicate(node: Any) -> Predicate:
    kind, payload = _operand(node)
    if kind == "bool":
        return payload  # type: ignore[no-any-return]
    if kind == "lit":
        edm, value = payload
        if edm != BOOLEAN:
            raise InvalidInput("A query filter term must be a Boolean expression.")
        return (lambda props: True) if value else (lambda props: False)
    name = payload

    def bare(props: Props) -> bool:
        found = props.get(name)
        return found is not None and found[0] == BOOLEAN and found[1] is True

    return bare


def _comparison(left: tuple[str, Any], op_text: str, right: tuple[str, Any]) -> Predicate:
    op_name = op_text.lower()
    if left[0] == "lit" and right[0] != "lit":
        left, right, op_name = right, left, _MIRROR[op_name]
    compare = _OPS[op_name]
    if left[0] == "lit":
        (ltype, lvalue), (rtype, rvalue) = left[1], right[1]
        result = ltype == rtype and compare(lvalue, rvalue)
        return (lambda props: True) if result else (lambda props: False)
    if left[0] == "prop" and right[0] == "lit":
        name = left[1]
        edm, literal = right[1]

        def prop_vs_literal(props: Props) -> bool:
            found = props.get(name)
            return found is not None and found[0] == edm and compare(found[1], literal)

        return prop_vs_literal
    fetch_left, fetch_right = _fetcher(left), _fetcher(right)

    def general(props: Props) -> bool:
        a, b = fetch_left(props), fetch_right(props)
        return a is not None and b is not None and a[0] == b[0] and compare(a[1], b[1])

    return general


def _fetcher(operand: tuple[str, Any]) -> Callable[[Props], tuple[str, Any] | None]:
    kind, payload = operand
    if kind == "prop":
        return lambda props: props.get(payload)
    if kind == "lit":
        return lambda props: payload
    return lambda props: (BOOLEAN, payload(props))


def _compile(node: Any) -> Predicate:
    if isinstance(node, Tree):
        if node.data == "or_expr":
            terms = tuple(_compile(child) for child in node.children)
            return lambda props: any(term(props) for term in terms)
        if node.data == "and_expr":
            terms = tuple(_compile(child) for child in node.children)
            return lambda props: all(term(props) for term in terms)
        if node.data == "not_expr":
            inner = _compile(node.children[0])
            return lambda props: not inner(props)
        if node.data == "compare":
            left, op, right = node.children
            return _comparison(_operand(left), str(op), _operand(right))
    return _as_predicate(node)


Bound = tuple[str, tuple[str, Any]]


def _property_term(term: Any) -> tuple[str, Bound] | None:
    """(property, (operator, typed literal)) of a comparison a secondary index can serve."""
    if not (isinstance(term, Tree) and term.data == "compare"):
        return None
    left, op, right = term.children
    a, b = _operand(left), _operand(right)
    op_name = str(op).lower()
    if a[0] == "lit":
        a, b, op_name = b, a, _MIRROR[op_name]
    if a[0] != "prop" or b[0] != "lit" or op_name == "ne" or a[1] in (PARTITION_KEY, ROW_KEY):
        return None
    if b[1][0] == DOUBLE and b[1][1] != b[1][1]:
        return None  # NaN
    return a[1], (op_name, b[1])


def _property_bounds(tree: Any) -> tuple[dict[str, list[Bound]], list[tuple[str, list[Bound]]]]:
    """What a secondary index can narrow, from the terms of the top-level ``and``.

    First, property -> the bounds that every match satisfies (their intersection); then the
    terms that are an ``or`` of bounds on one property (``n eq 1 or n eq 5``): every match
    satisfies one of them.
    """
    terms = tree.children if isinstance(tree, Tree) and tree.data == "and_expr" else [tree]
    bounds: dict[str, list[Bound]] = {}
    unions: list[tuple[str, list[Bound]]] = []
    for term in terms:
        single = _property_term(term)
        if single is not None:
            bounds.setdefault(single[0], []).append(single[1])
            continue
        if isinstance(term, Tree) and term.data == "or_expr":
            choices = [_property_term(child) for child in term.children]
            names = {choice[0] for choice in choices if choice is not None}
            if None not in choices and len(names) == 1:
                unions.append((names.pop(), [choice[1] for choice in choices if choice is not None]))
    return bounds, unions


def _key_ranges(tree: Any) -> tuple[KeyRange, KeyRange]:
    """The PartitionKey and RowKey bounds that every match must satisfy (top-level ``and`` only)."""
    terms = tree.children if isinstance(tree, Tree) and tree.data == "and_expr" else [tree]
    partition, row = KeyRange(), KeyRange()
    for term in terms:
        if not (isinstance(term, Tree) and term.data == "compare"):
            continue
        left, op, right = term.children
        a, b = _operand(left), _operand(right)
        op_name = str(op).lower()
        if a[0] == "lit":
            a, b, op_name = b, a, _MIRROR[op_name]
        if a[0] != "prop" or b[0] != "lit" or b[1][0] != STRING or op_name == "ne":
            continue
        if a[1] == PARTITION_KEY:
            partition = partition.narrowed(op_name, b[1][1])
        elif a[1] == ROW_KEY:
            row = row.narrowed(op_name, b[1][1])
    return partition, row


class _Codegen:
    """Turns a parse tree into the source of one Python lambda: no closures or generators per
    entity, so a scan costs a few dict lookups and tuple comparisons per entity."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self._count = 0
        self._fetched: dict[str, str] = {}
        """Property -> the local already holding it (only for top-level ``and`` terms)."""
        self._may_cache = False

    def top(self, tree: Any) -> str:
        """The whole filter: terms of a top-level ``and`` share each property's lookup."""
        if not (isinstance(tree, Tree) and tree.data == "and_expr"):
            return self.predicate(tree)
        parts = []
        for child in tree.children:
            # Later terms run only when earlier ones did, so a local set by one is there for the next.
            self._may_cache = isinstance(child, Tree) and child.data == "compare"
            parts.append(self.predicate(child))
            self._may_cache = False
        return "(" + " and ".join(parts) + ")"

    def fetch(self, prop: str) -> str:
        self.env["_missing"] = ("",)
        local = self._fetched.get(prop)
        if local is not None:
            return local
        source = f"p.get({prop!r}, _missing)"
        if not self._may_cache:
            return source
        local = self.name(prefix="_v")
        self._fetched[prop] = local
        return f"({local} := {source})"

    def name(self, value: Any = None, prefix: str = "_c") -> str:
        self._count += 1
        name = f"{prefix}{self._count}"
        if prefix == "_c":
            self.env[name] = value
        return name

    def operand(self, node: Any) -> tuple[str, Any, str]:
        """(kind, payload, source of a (type, value) tuple or None)."""
        kind, payload = _operand(node) if not _is_bool_node(node) else ("bool", None)
        if kind == "lit":
            return kind, payload, self.name(payload)
        if kind == "prop":
            return kind, payload, f"p.get({payload!r})"
        return "bool", None, f"({self.name(BOOLEAN)}, {self.predicate(node)})"

    def predicate(self, node: Any) -> str:
        if isinstance(node, Tree):
            if node.data == "or_expr":
                return "(" + " or ".join(self.predicate(child) for child in node.children) + ")"
            if node.data == "and_expr":
                return "(" + " and ".join(self.predicate(child) for child in node.children) + ")"
            if node.data == "not_expr":
                return f"(not {self.predicate(node.children[0])})"
            if node.data == "compare":
                return self.compare(*node.children)
        kind, payload, source = self.operand(node)
        if kind == "lit":
            if payload[0] != BOOLEAN:
                raise InvalidInput("A query filter term must be a Boolean expression.")
            return "True" if payload[1] else "False"
        if kind == "prop":
            return f"({source} == {self.name((BOOLEAN, True))})"
        return source + "[1]"

    def compare(self, left_node: Any, op_token: Any, right_node: Any) -> str:
        left, right = self.operand(left_node), self.operand(right_node)
        op_name = str(op_token).lower()
        if left[0] == "lit" and right[0] != "lit":
            left, right, op_name = right, left, _MIRROR[op_name]
        symbol = _SYMBOLS[op_name]
        if left[0] == "lit":
            (ltype, lvalue), (rtype, rvalue) = left[1], right[1]
            return "True" if ltype == rtype and _OPS[op_name](lvalue, rvalue) else "False"
        if left[0] == "prop" and right[0] == "lit":
            return self.range_check(left[1], op_name, right[1])
        a, b = self.name(prefix="_t"), self.name(prefix="_t")
        return (
            f"(({a} := {left[2]}) is not None and ({b} := {right[2]}) is not None"
            f" and {a}[0] == {b}[0] and {a}[1] {symbol} {b}[1])"
        )

    def range_check(self, prop: str, op_name: str, literal: tuple[str, Any]) -> str:
        """A property against a literal as one chained tuple comparison.

        Values are ``(type, value)`` tuples, and ``(T,) < (T, v) < (T + "\\x00",)`` for every v
        while every other type falls outside that band: bounding a property on both sides by
        tuples of the literal's type checks its type and its value in one step. A missing
        property is ``("",)``, below every band.
        """
        edm, value = literal
        fetch = self.fetch(prop)
        typed = self.name(literal)
        low, high = self.name((edm,)), self.name((edm + "\x00",))
        if op_name == "eq":
            return f"({fetch} == {typed})"
        if op_name == "ne":
            temp = self.name(prefix="_t")
            return f"({low} < ({temp} := {fetch}) < {high} and {temp} != {typed})"
        if op_name == "gt":
            return f"({typed} < {fetch} < {high})"
        if op_name == "ge":
            return f"({typed} <= {fetch} < {high})"
        if op_name == "lt":
            return f"({low} < {fetch} < {typed})"
        return f"({low} < {fetch} <= {typed})"


_SYMBOLS = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _is_bool_node(node: Any) -> bool:
    return isinstance(node, Tree) and node.data in ("or_expr", "and_expr", "not_expr", "compare")


def _factory(tree: Any, body: str) -> Any:
    """Compile generated source whose literals are the factory's parameters (closure cells, the
    fastest lookup there is); None when Python cannot compile it (nesting past its limits)."""
    codegen = _Codegen()
    condition = codegen.top(tree)
    constants = codegen.env
    source = f"def factory({', '.join(constants)}):\n" + body.replace("CONDITION", condition)
    factory = _compiled(source)
    return None if factory is None else factory(**constants)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    # Filters that differ only in their literals generate the same source: compile it once.
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, "<filter>", "exec"), {"__builtins__": {}}, namespace)  # noqa: S102 - names only
    except (SyntaxError, RecursionError, MemoryError):
        return None
    return namespace["factory"]


_PREDICATE = """    return lambda e: (p := e.props) is not None and CONDITION
"""
_TAKE = """    def take(entities, limit):
        found = []
        append = found.append
        for e in entities:
            p = e.props
            if CONDITION:
                append(e)
                limit -= 1
                if not limit:
                    break
        return found
    return take
"""


def _generated(tree: Any) -> EntityPredicate | None:
    return _factory(tree, _PREDICATE)  # type: ignore[no-any-return]


@lru_cache(maxsize=512)
def compile_filter(text: str) -> Filter:
    """The compiled form of a ``$filter`` value; 400 InvalidInput when it is not valid OData."""
    if not text.strip():
        return Filter()
    try:
        tree = _PARSER.parse(text)
    except LarkError:
        raise InvalidInput("The query filter is not a valid OData expression.") from None
    except RecursionError:
        raise InvalidInput("The query filter is nested too deeply.") from None
    try:
        _check_terms(tree)
        partition, row = _key_ranges(tree)
        return Filter(tree, partition, row)
    except RecursionError:
        raise InvalidInput("The query filter is nested too deeply.") from None


def _check_terms(tree: Any) -> None:
    """Raise InvalidInput for what parses but is not a filter (e.g. a bare number)."""
    _compile(tree)


def _predicate(tree: Any) -> EntityPredicate:
    predicate = _generated(tree)
    if predicate is None:
        fallback = _compile(tree)
        predicate = lambda e: fallback(e.props)  # noqa: E731
    return predicate


def _taker(tree: Any) -> Take:
    take = _factory(tree, _TAKE)
    if take is None:
        predicate = _predicate(tree)
        return lambda entities, limit: list(islice(filter(predicate, entities), limit))
    return take  # type: ignore[no-any-return]


def _enforced(term: Any, rows_enforced: bool) -> bool:
    """True for a top-level key comparison that the key-range scan already guarantees."""
    if not (isinstance(term, Tree) and term.data == "compare"):
        return False
    left, op, right = term.children
    a, b = _operand(left), _operand(right)
    if a[0] == "lit":
        a, b = b, a
    if a[0] != "prop" or b[0] != "lit" or b[1][0] != STRING or str(op).lower() == "ne":
        return False
    return a[1] == PARTITION_KEY or (rows_enforced and a[1] == ROW_KEY)


def _residual(tree: Any, rows_enforced: bool) -> Any:
    """The tree without the enforced key terms: the same tree, a smaller one, or None (no test left)."""
    if isinstance(tree, Tree) and tree.data == "and_expr":
        kept = [term for term in tree.children if not _enforced(term, rows_enforced)]
        if len(kept) == len(tree.children):
            return tree
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Tree("and_expr", kept)
    return None if _enforced(tree, rows_enforced) else tree
