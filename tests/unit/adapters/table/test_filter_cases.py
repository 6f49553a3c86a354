"""OData ``$filter`` cases, each checked against the exact set of entities it must return.

The fixture mixes types on purpose: ``Age`` is Int32 on most entities, Int64 on one and a
String on another, so a comparison is only true where the types agree, as in Azure. The
cases marked "Azurite" are the filters its users report as ignored or wrong.
"""

from __future__ import annotations

import math
import uuid

import pytest

from adapters.table.edm import BINARY, BOOLEAN, DATETIME, DOUBLE, GUID, INT32, INT64, STRING, parse_datetime
from adapters.table.errors import InvalidInput
from adapters.table.filter import _PARSER, _compile, _take_all, compile_filter
from adapters.table.store import Table, TableStore
from controlplane.state.memory import MemoryBackend

G1 = "c9da6455-213d-42c9-9a79-3e9149a57833"
G2 = "00000000-0000-0000-0000-000000000001"

ENTITIES = {
    "a": ("p1", "r1", {
        "Name": (STRING, "alice"), "Age": (INT32, 30), "Big": (INT64, 2**40), "Score": (DOUBLE, 1.5),
        "Active": (BOOLEAN, True), "Born": (DATETIME, parse_datetime("1990-01-01T00:00:00Z")),
        "Id": (GUID, G1), "Data": (BINARY, b"\x01\x02"), "Quote": (STRING, "it's"),
    }),
    "b": ("p1", "r2", {
        "Name": (STRING, "bob"), "Age": (INT32, 25), "Big": (INT64, 5), "Score": (DOUBLE, math.nan),
        "Active": (BOOLEAN, False), "Born": (DATETIME, parse_datetime("2000-06-15T12:00:00.5Z")),
        "Id": (GUID, G2), "Data": (BINARY, b"\xff"),
    }),
    "c": ("p2", "r1", {
        "Name": (STRING, "carol"), "Age": (INT64, 30), "Score": (DOUBLE, 30.0),
        "Born": (DATETIME, parse_datetime("2010-03-01T08:30:00.1234567Z")),
    }),
    "d": ("p3", "r3", {"Name": (STRING, "dave"), "Age": (STRING, "30"), "Active": (BOOLEAN, True)}),
    "e": ("p3", "r4", {}),
}  # fmt: skip

CASES: list[tuple[str, set[str]]] = [
    # keys and the ordered index
    ("PartitionKey eq 'p1'", {"a", "b"}),
    ("PartitionKey eq 'p1' and RowKey eq 'r2'", {"b"}),
    ("PartitionKey ne 'p1'", {"c", "d", "e"}),
    ("PartitionKey gt 'p1'", {"c", "d", "e"}),
    ("PartitionKey ge 'p2' and PartitionKey lt 'p3'", {"c"}),
    ("PartitionKey le 'p2'", {"a", "b", "c"}),
    ("PartitionKey eq 'p3' and RowKey gt 'r3'", {"e"}),
    ("PartitionKey eq 'p1' and PartitionKey eq 'p2'", set()),
    ("PartitionKey eq 'nope'", set()),
    ("RowKey eq 'r1'", {"a", "c"}),
    # Azurite: a literal on the left side
    ("'p1' eq PartitionKey", {"a", "b"}),
    ("'p2' lt PartitionKey", {"d", "e"}),
    ("30 eq Age", {"a"}),
    ("datetime'2000-01-01T00:00:00Z' lt Born", {"b", "c"}),
    # Int32, Int64, Double: equal values of different types never match
    ("Age eq 30", {"a"}),
    ("Age eq 30L", {"c"}),
    ("Age eq '30'", {"d"}),
    ("Age gt 20", {"a", "b"}),
    ("Age ge 25 and Age lt 30", {"b"}),
    ("Big gt 1000L", {"a"}),
    ("Big gt 1000", set()),
    ("Score eq 30.0", {"c"}),
    ("Score eq 30", set()),
    ("Score lt 2.0", {"a"}),
    ("Score ne 1.5", {"b", "c"}),
    ("Score lt 1e3", {"a", "c"}),
    # strings
    ("Name eq 'alice'", {"a"}),
    ("Name ge 'b' and Name lt 'd'", {"b", "c"}),
    ("Quote eq 'it''s'", {"a"}),
    ("Name eq 'ALICE'", set()),
    # Booleans, bare and compared
    ("Active eq true", {"a", "d"}),
    ("Active eq false", {"b"}),
    ("Active", {"a", "d"}),
    ("not Active", {"b", "c", "e"}),
    ("Active ne true", {"b"}),
    # Azurite: GUID comparisons
    (f"Id eq guid'{G1}'", {"a"}),
    (f"Id eq guid'{G1.upper()}'", {"a"}),
    (f"Id ne guid'{G1}'", {"b"}),
    (f"Id eq '{G1}'", set()),
    # Azurite: DateTime comparisons (fractions, offsets)
    ("Born gt datetime'1995-01-01T00:00:00Z'", {"b", "c"}),
    ("Born eq datetime'2000-06-15T12:00:00.5000000Z'", {"b"}),
    ("Born eq datetime'2000-06-15T14:00:00.5+02:00'", {"b"}),
    ("Born lt datetime'2010-03-01T08:30:00.1234568Z'", {"a", "b", "c"}),
    ("Born lt datetime'2010-03-01T08:30:00.1234567Z'", {"a", "b"}),
    # Binary
    ("Data eq X'0102'", {"a"}),
    ("Data eq binary'ff'", {"b"}),
    ("Data gt X'01'", {"a", "b"}),
    # and / or / not, parentheses, precedence
    ("Name eq 'alice' or Name eq 'dave'", {"a", "d"}),
    ("Name eq 'alice' or Name eq 'bob' and Age eq 30", {"a"}),
    ("(Name eq 'alice' or Name eq 'bob') and Age eq 25", {"b"}),
    ("not (PartitionKey eq 'p1') and not (PartitionKey eq 'p3')", {"c"}),
    ("not not Active", {"a", "d"}),
    ("PartitionKey eq 'p1' and (RowKey eq 'r1' or RowKey eq 'r2')", {"a", "b"}),
    ("PartitionKey eq 'p1' AND Age EQ 25", {"b"}),
    # literals only
    ("true", {"a", "b", "c", "d", "e"}),
    ("1 eq 2", set()),
    ("'x' eq 'x'", {"a", "b", "c", "d", "e"}),
    # Azurite: an empty filter is no filter
    ("", {"a", "b", "c", "d", "e"}),
    ("   ", {"a", "b", "c", "d", "e"}),
    # Azurite: long filters (200 terms) still parse and evaluate
    (" or ".join(f"Name eq 'n{i}'" for i in range(199)) + " or Name eq 'carol'", {"c"}),
    (" and ".join("Age ge 0" for _ in range(100)), {"a", "b"}),
    # a missing property makes the comparison false, never an error
    ("Missing eq 1", set()),
    ("Missing ne 1", set()),
    ("not (Missing eq 1)", {"a", "b", "c", "d", "e"}),
    ("Missing eq 1 or Name eq 'dave'", {"d"}),
]


@pytest.fixture(scope="module")
def store() -> tuple[TableStore, Table]:
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "cases")
    for partition_key, row_key, props in ENTITIES.values():
        store.write(table, (partition_key, row_key), dict(props))
    return store, table


def _ids(store: TableStore, table: Table, text: str) -> set[str]:
    by_key = {(pk, rk): name for name, (pk, rk, _) in ENTITIES.items()}
    found, next_key = store.query(table, compile_filter(text), 1000)
    assert next_key is None
    return {by_key[(e.partition_key, e.row_key)] for e in found}


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_filter_returns_exactly(store: tuple[TableStore, Table], text: str, expected: set[str]) -> None:
    assert _ids(*store, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [c for c in CASES if c[0].strip()], ids=[c[0][:60] for c in CASES if c[0].strip()]
)
def test_the_closure_fallback_agrees(text: str, expected: set[str]) -> None:
    # Filters Python cannot compile as one lambda (nested past its limits) use these closures.
    predicate = _compile(_PARSER.parse(text))
    matched = {name for name, (pk, rk, props) in ENTITIES.items() if predicate(_with_keys(pk, rk, props))}
    assert matched == expected


def _with_keys(pk: str, rk: str, props: dict) -> dict:
    return {"PartitionKey": (STRING, pk), "RowKey": (STRING, rk), **props}


def test_key_terms_the_scan_enforces_are_not_tested_again() -> None:
    assert compile_filter("PartitionKey eq 'p1'").take is _take_all
    assert compile_filter("PartitionKey eq 'p1' and RowKey ge 'r'").take is _take_all
    assert compile_filter("PartitionKey ge 'p1' and RowKey ge 'r'").take is not _take_all
    assert compile_filter("PartitionKey eq 'p1' or RowKey ge 'r'").take is not _take_all


def test_deeply_nested_filters_fall_back_or_are_refused(store: tuple[TableStore, Table]) -> None:
    # Parentheses do not deepen the tree; 300 "not"s pass Python's nesting limit (closures serve
    # them); thousands are refused with 400, never a crash.
    assert _ids(*store, "(" * 5000 + "Age eq 30" + ")" * 5000) == {"a"}
    assert _ids(*store, "not " * 300 + "Age eq 30") == {"a"}
    assert _ids(*store, "not " * 301 + "Age eq 30") == {"b", "c", "d", "e"}
    with pytest.raises(InvalidInput):
        compile_filter("not " * 5000 + "Age eq 30")


@pytest.mark.parametrize(
    "text",
    ["TableName eq 'orders'", "'orders' eq TableName", "TableName ge 'o' and TableName lt 'p'"],
)
def test_table_name_filters(text: str) -> None:
    tables = [Table("acct", name) for name in ("customers", "orders", "ordersArchive", "zebra")]
    plan = compile_filter(text)
    assert plan.predicate is not None
    matched = {t.name for t in tables if plan.predicate(t)}
    expected = {"orders", "ordersArchive"} if "ge" in text else {"orders"}
    assert matched == expected


@pytest.mark.parametrize(
    "text",
    [
        "Age eq",
        "Age eq 5 5",
        "(Age eq 5",
        "Age eq 5)",
        "Age like 5",
        "guid'not-a-guid' eq Id",
        "datetime'yesterday' lt Born",
        "X'abc' eq Data",
        "Age eq 99999999999999999999L",
        "Name eq 'unterminated",
        "5",
        "Name eq 'a' and",
    ],
)
def test_invalid_filters_are_400_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        compile_filter(text)


def test_partition_filters_use_the_index() -> None:
    plan = compile_filter("PartitionKey eq 'p1' and RowKey ge 'r2' and Age gt 1")
    assert plan.partition.exact == "p1"
    assert plan.row.low == ("r2", True)
    ranged = compile_filter("'a' le PartitionKey and PartitionKey lt 'b'")
    assert ranged.partition.low == ("a", True) and ranged.partition.high == ("b", False)
    assert compile_filter("PartitionKey eq 'a' or Age eq 1").partition.low is None


def test_a_partition_scan_visits_only_that_partition() -> None:
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "scan")
    for pk in ("a", "b", "c"):
        for rk in range(100):
            store.write(table, (pk, f"{rk:03d}"), {"n": (INT32, rk)})
    visited = list(store.scan(table, compile_filter("PartitionKey eq 'b' and RowKey gt '090'"), None))
    assert [(e.partition_key, e.row_key) for e in visited] == [("b", f"{rk:03d}") for rk in range(91, 100)]
    assert len(list(store.scan(table, compile_filter("PartitionKey gt 'a' and PartitionKey le 'b'"), None))) == 100


def test_continuation_resumes_at_the_next_match() -> None:
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "pages")
    for rk in range(25):
        store.write(table, ("p", f"{rk:02d}"), {"even": (BOOLEAN, rk % 2 == 0)})
    plan = compile_filter("even")
    seen: list[str] = []
    resume = None
    while True:
        found, resume = store.query(table, plan, 5, resume)
        seen += [e.row_key for e in found]
        if resume is None:
            break
    assert seen == [f"{rk:02d}" for rk in range(0, 25, 2)]


def test_guid_literal_is_case_insensitive() -> None:
    assert compile_filter(f"Id eq guid'{uuid.UUID(G1).hex.upper()}'").predicate is not None


@pytest.fixture
def indexed_store(monkeypatch: pytest.MonkeyPatch) -> tuple[TableStore, Table]:
    # Force the secondary indexes on, whatever the table's size and the filter's selectivity.
    monkeypatch.setattr("adapters.table.store.MIN_ENTITIES", 0)
    monkeypatch.setattr("adapters.table.store.SELECTIVITY", 0)
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "indexed")
    for partition_key, row_key, props in ENTITIES.values():
        store.write(table, (partition_key, row_key), dict(props))
    return store, table


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_secondary_indexes_return_exactly_the_same(
    indexed_store: tuple[TableStore, Table], text: str, expected: set[str]
) -> None:
    store, table = indexed_store
    assert _ids(store, table, text) == expected
    if compile_filter(text).bounds or compile_filter(text).unions:
        assert table.indexes


def test_indexes_follow_writes(indexed_store: tuple[TableStore, Table]) -> None:
    store, table = indexed_store
    assert _ids(store, table, "Age ge 25 and Age le 30") == {"a", "b"}
    assert "Age" in table.indexes
    store.write(table, ("p1", "r2"), {"Age": (INT32, 99)})  # b moves out of the range
    store.write(table, ("p3", "r4"), {"Age": (INT32, 27)})  # e moves in
    store.remove(table, ("p1", "r1"))  # a is gone
    found, _ = store.query(table, compile_filter("Age ge 25 and Age le 30"), 1000)
    assert [(x.partition_key, x.row_key) for x in found] == [("p3", "r4")]
    found, _ = store.query(table, compile_filter("Age eq 99"), 1000)
    assert [(x.partition_key, x.row_key) for x in found] == [("p1", "r2")]


def test_indexed_pages_keep_key_order_and_continuation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.table.store.MIN_ENTITIES", 0)
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "indexpages")
    for i in range(500):
        store.write(table, (f"p{i % 5}", f"{i:04d}"), {"n": (INT32, i % 50)})
    plan = compile_filter("n eq 7 and PartitionKey ge 'p2'")
    seen: list[tuple[str, str]] = []
    resume = None
    while True:
        found, resume = store.query(table, plan, 3, resume)
        seen += [(e.partition_key, e.row_key) for e in found]
        if resume is None:
            break
    expected = sorted((f"p{i % 5}", f"{i:04d}") for i in range(500) if i % 50 == 7 and i % 5 >= 2)
    assert seen == expected
    assert "n" in table.indexes


def test_an_or_of_one_property_is_an_index_union(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compile_filter("Name eq 'a' or Name eq 'b'").unions == [
        ("Name", [("eq", (STRING, "a")), ("eq", (STRING, "b"))])
    ]
    assert compile_filter("Name eq 'a' or Age eq 1").unions == []
    monkeypatch.setattr("adapters.table.store.MIN_ENTITIES", 0)
    store = TableStore(MemoryBackend())
    table = store.create_table("acct", "unions")
    for i in range(300):
        store.write(table, (f"p{i % 3}", f"{i:04d}"), {"n": (INT32, i % 30)})
    plan = compile_filter("PartitionKey ne 'p1' and (n eq 7 or n ge 28 or 2 eq n)")
    found, resume = store.query(table, plan, 1000)
    expected = sorted((f"p{i % 3}", f"{i:04d}") for i in range(300) if i % 3 != 1 and (i % 30 in (2, 7, 28, 29)))
    assert [(e.partition_key, e.row_key) for e in found] == expected and resume is None
    assert "n" in table.indexes
