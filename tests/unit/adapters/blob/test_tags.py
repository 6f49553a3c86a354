"""Blob index tag validation and Find Blobs by Tags filter expressions."""

from __future__ import annotations

import pytest

from adapters.blob.errors import InvalidTagValue
from adapters.blob.tags import InvalidFilter, matches, parse_filter, parse_tag_header, validate_tags


def test_filter_parsing_and_matching() -> None:
    conditions = parse_filter("\"project\"='alpha' AND \"stage\" >= '2' AND @container='logs'")
    assert conditions == [("project", "=", "alpha"), ("stage", ">=", "2"), ("@container", "=", "logs")]
    assert matches(conditions, "logs", {"project": "alpha", "stage": "3"})
    assert not matches(conditions, "other", {"project": "alpha", "stage": "3"})
    assert not matches(conditions, "logs", {"project": "alpha", "stage": "1"})
    assert not matches(conditions, "logs", {"stage": "3"})
    assert parse_filter("size<'9'") == [("size", "<", "9")]


@pytest.mark.parametrize("expression", ["", '"a"=', "\"a\" 'b'", "\"a\"='b' OR \"c\"='d'", "\"a\"='b' AND"])
def test_bad_filters_are_rejected(expression: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(expression)


def test_tag_rules() -> None:
    assert parse_tag_header("a=1&b%20c=two") == {"a": "1", "b c": "two"}
    with pytest.raises(InvalidTagValue):
        validate_tags({f"k{i}": "v" for i in range(11)})
    with pytest.raises(InvalidTagValue):
        validate_tags({"": "v"})
    with pytest.raises(InvalidTagValue):
        validate_tags({"bad!": "v"})
