"""Rate limiting per account, client address or service, with the ``limits`` library.

Off until rules are configured (in the config file, live, or through the admin API). A
request over a limit is refused the way the real service refuses it: storage answers
503 ``ServerBusy``, the other services 429; both say when to retry.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from controlplane.gateway.errors import AzureError

if TYPE_CHECKING:
    from limits import RateLimitItem


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
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '100/second': {exc}") from None
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
    # ``limits`` is imported only once some rule exists: most runs have none.
    def __init__(self) -> None:
        self._limiter: Any = None
        self._rules: list[tuple[RateLimitRule, RateLimitItem]] = []
        self.rejected = 0

    def __bool__(self) -> bool:
        return bool(self._rules)

    @property
    def rules(self) -> list[RateLimitRule]:
        return [rule for rule, _ in self._rules]

    def replace(self, rules: list[RateLimitRule]) -> None:
        if not rules:
            self._rules, self._limiter = [], None
            return
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._rules = [(rule, parse(rule.limit)) for rule in rules]
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, service: str, account: str, client: str, storage: bool) -> None:
        """Count the request against every rule that covers it; raise when one is exhausted."""
        for index, (rule, item) in enumerate(self._rules):
            if rule.service not in (None, service):
                continue
            subject = {"account": account, "client": client, "service": service}[rule.scope]
            if self._limiter.hit(item, str(index), service, subject):
                continue
            self.rejected += 1
            reset = self._limiter.get_window_stats(item, str(index), service, subject).reset_time
            wait = max(reset - time.time(), 0.001)
            headers = {"Retry-After": str(math.ceil(wait)), "x-ms-retry-after-ms": str(math.ceil(wait * 1000))}
            error = ServerBusyThrottled if storage else TooManyRequests
            raise error(f"{error.message} Limit: {rule.limit} per {rule.scope}.", headers=headers)
