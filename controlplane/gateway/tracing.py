"""W3C trace context: a request's ``traceparent`` is accepted, and the hop to a backend
carries the same trace id with the gateway's own span as parent."""

from __future__ import annotations

import re

from controlplane.ids import random_bytes

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def next_hop(incoming: str | None) -> tuple[str, str]:
    """(trace id, traceparent for the backend): the caller's trace continued, or a new one."""
    flags = "01"
    trace = None
    if incoming is not None:
        match = _TRACEPARENT.fullmatch(incoming.strip().lower())
        if match and match[1] != _ZERO_TRACE and match[2] != _ZERO_SPAN:
            trace, flags = match[1], match[3]
    if trace is None:
        trace = random_bytes(16).hex()
    return trace, f"00-{trace}-{random_bytes(8).hex()}-{flags}"
