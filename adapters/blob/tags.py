"""Blob index tags: validation, the x-ms-tags header and Find Blobs by Tags filter expressions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from adapters.blob.errors import AzureError, InvalidTagValue

MAX_TAGS = 10
_TAG_CHARS = re.compile(r"[A-Za-z0-9 +\-./:=_]*")

# A filter is conditions joined by AND: "key" op 'value', with @container as a pseudo-key.
_TOKEN = re.compile(
    r"""\s*(?:(?P<and>AND\b)|"(?P<qkey>[^"]*)"|(?P<at>@container)|(?P<key>[A-Za-z0-9_+\-./:]+)"""
    r"""|(?P<op>>=|<=|=|>|<)|'(?P<value>[^']*)')""",
    re.IGNORECASE,
)


class InvalidFilter(AzureError):
    status = 400
    code = "InvalidQueryParameterValue"
    message = "Value for one of the query parameters specified in the request URI is invalid."


def validate_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidTagValue("The number of tags exceeds the limit of 10.", code="TooManyTags")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise InvalidTagValue()
        if not _TAG_CHARS.fullmatch(key) or not _TAG_CHARS.fullmatch(value):
            raise InvalidTagValue()
    return dict(tags)


def parse_tag_header(raw: str) -> dict[str, str]:
    return validate_tags(dict(parse_qsl(raw, keep_blank_values=True)))


def parse_filter(expression: str) -> list[tuple[str, str, str]]:
    """[(key, op, value)]; the key ``@container`` compares the container name."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InvalidFilter(details={"QueryParameterName": "where", "QueryParameterValue": expression})
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    conditions: list[tuple[str, str, str]] = []
    index = 0
    while index < len(tokens):
        if index and tokens[index][0] == "and":
            index += 1
        try:
            (key_kind, key), (op_kind, op), (value_kind, value) = tokens[index : index + 3]
        except ValueError:
            raise InvalidFilter(details={"QueryParameterName": "where", "QueryParameterValue": expression}) from None
        if key_kind not in ("qkey", "key", "at") or op_kind != "op" or value_kind != "value":
            raise InvalidFilter(details={"QueryParameterName": "where", "QueryParameterValue": expression})
        conditions.append(("@container" if key_kind == "at" else key, op, value))
        index += 3
    if not conditions:
        raise InvalidFilter(details={"QueryParameterName": "where", "QueryParameterValue": expression})
    return conditions


def matches(conditions: list[tuple[str, str, str]], container: str, tags: Mapping[str, str]) -> bool:
    for key, op, value in conditions:
        actual = container if key == "@container" else tags.get(key)
        if actual is None:
            return False
        if op == "=" and actual != value:
            return False
        if op == ">" and not actual > value:
            return False
        if op == ">=" and not actual >= value:
            return False
        if op == "<" and not actual < value:
            return False
        if op == "<=" and not actual <= value:
            return False
    return True
