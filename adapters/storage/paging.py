"""Listing a sorted set of names the way storage lists pages: prefix, marker, limit."""

from __future__ import annotations

import bisect


def page_names(names: list[str], prefix: str, marker: str, limit: int) -> tuple[list[str], str]:
    """Up to ``limit`` of the sorted ``names`` that start with ``prefix``, from ``marker`` on,
    and the marker of the next page ('' at the end)."""
    start = max(bisect.bisect_left(names, marker), bisect.bisect_left(names, prefix))
    found: list[str] = []
    for index in range(start, len(names)):
        name = names[index]
        if not name.startswith(prefix):
            break
        if len(found) == limit:
            return found, name
        found.append(name)
    return found, ""
