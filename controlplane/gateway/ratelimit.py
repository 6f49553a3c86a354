"""Rate limiting per account, client address or service, with ``aiolimiter`` (leaky buckets).

Off until rules are configured (in the config file, live, or through the admin API). A
request over a limit is refused the way the real service refuses it: storage answers
503 ``ServerBusy``, the other services 429; both say when to retry.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, field_validator

from controlplane.gateway.errors import AzureError

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_LIMIT = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+\s+)?(second|minute|hour|day)s?\s*", re.IGNORECASE)


def parse_limit(text: str) -> tuple[int, float]:
    """``100/second``, ``1000 per minute``, ``10/5 seconds`` -> (count, period in seconds)."""
    match = _LIMIT.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a rate limit like '100/second' or '1000 per minute': {text!r}")
    return int(match[1]), float(match[2] or 1) * _PERIODS[match[3].lower()]


class RateLimitRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["account", "client", "service"] = "account"
    """What one budget is counted for: each account, each client address, or each service."""
    service: str | None = None
    """Only requests to this service (None: every service)."""
    limit: str
    """``<count>/<period>``, e.g. ``100/second``, ``1000 per minute``."""

    @field_validator("limit")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_limit(value)
        return value


class ServerBusyThrottled(AzureError):
    status = 503
    code = "ServerBusy"
    message = "The server is busy."


class TooManyRequests(AzureError):
    status = 429
    code = "TooManyRequests"
    message = "The request rate is too large. Retry after the time in the Retry-After header."


class RateLimiter:
    def __init__(self) -> None:
        self._rules: list[tuple[RateLimitRule, int, float]] = []
        self._buckets: dict[tuple[int, str, str], AsyncLimiter] = {}
        self.rejected = 0

    def __bool__(self) -> bool:
        return bool(self._rules)

    @property
    def rules(self) -> list[RateLimitRule]:
        return [rule for rule, _, _ in self._rules]

    def replace(self, rules: list[RateLimitRule]) -> None:
        self._rules = [(rule, *parse_limit(rule.limit)) for rule in rules]
        self._buckets = {}

    async def check(self, service: str, account: str, client: str, storage: bool) -> None:
        """Count the request against every rule that covers it; raise when one is exhausted."""
        for index, (rule, count, period) in enumerate(self._rules):
            if rule.service not in (None, service):
                continue
            subject = account if rule.scope == "account" else client if rule.scope == "client" else service
            key = (index, service, subject)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = AsyncLimiter(count, period)
            if bucket.has_capacity():
                await bucket.acquire()  # there is capacity: returns at once
                continue
            self.rejected += 1
            wait = period / count  # one request's worth of the bucket drains in this time
            headers = {"Retry-After": str(math.ceil(wait)), "x-ms-retry-after-ms": str(math.ceil(wait * 1000))}
            error = ServerBusyThrottled if storage else TooManyRequests
            raise error(f"{error.message} Limit: {rule.limit} per {rule.scope}.", headers=headers)
