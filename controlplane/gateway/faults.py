"""Fault injection: rules that make chosen operations fail or slow down, for testing retries.

A rule matches by service and Azure operation name; when it fires it adds latency and/or
answers with the given status and error code (with ``Retry-After`` in seconds or as an
HTTP date). Which matching requests fire is set by a pattern: every one, every Nth, bursts
of N followed by a gap, or at random with an optional seed; ``count`` caps how often it
fires, ``starts_at``/``ends_at``/``duration_seconds`` bound it in time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlplane.gateway.errors import AzureError
from controlplane.ids import new_guid

log = logging.getLogger(__name__)


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str | None = None
    """Service name (``blob``); None matches every service."""
    operation: str | None = None
    """Azure operation name (``PutBlob``); None matches every operation."""
    status: int | None = Field(default=503, ge=400, le=599)
    """Status to answer with; None for a latency-only rule."""
    error_code: str = "ServerBusy"
    message: str = "Fault injected by LocalZure."
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    retry_after: int | None = Field(default=None, ge=0)
    """Seconds the client is asked to wait (the ``Retry-After`` header)."""
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    seed: int | None = None
    every: int | None = Field(default=None, ge=1)
    """Fire on every Nth matching request."""
    burst: int | None = Field(default=None, ge=1)
    """Fire on ``burst`` matching requests in a row, then let ``gap`` pass, and repeat."""
    gap: int = Field(default=0, ge=0)
    count: int | None = Field(default=None, ge=1)
    """Fire at most this many times."""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something_to_do(self) -> FaultRule:
        if self.status is None and self.latency_ms == 0:
            raise ValueError("a rule needs a status, a latency_ms, or both")
        return self


class ActiveFault:
    """A rule with its counters."""

    def __init__(self, rule: FaultRule) -> None:
        self.id = new_guid()
        self.rule = rule
        self.created = time.time()
        self.matched = 0
        self.fired = 0
        self._random = random.Random(rule.seed)

    def _in_window(self, now: float) -> bool:
        rule = self.rule
        if rule.starts_at is not None and now < _timestamp(rule.starts_at):
            return False
        if rule.ends_at is not None and now >= _timestamp(rule.ends_at):
            return False
        return rule.duration_seconds is None or now < self.created + rule.duration_seconds

    @property
    def spent(self) -> bool:
        return self.rule.count is not None and self.fired >= self.rule.count

    def applies(self, service: str, operation: str) -> bool:
        rule = self.rule
        return (rule.service in (None, service)) and (rule.operation in (None, operation))

    def fires(self, now: float) -> bool:
        """Count a matching request and say whether the fault hits it."""
        if self.spent or not self._in_window(now):
            return False
        self.matched += 1
        rule, n = self.rule, self.matched
        if rule.every is not None and n % rule.every:
            return False
        if rule.burst is not None and (n - 1) % (rule.burst + rule.gap) >= rule.burst:
            return False
        if rule.probability < 1.0 and self._random.random() >= rule.probability:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self.rule.model_dump(mode="json", exclude_none=True),
            "matched": self.matched,
            "fired": self.fired,
            "spent": self.spent,
        }


class FaultInjector:
    """The active rules; checked by the gateway after it has named the operation."""

    def __init__(self) -> None:
        self._faults: list[ActiveFault] = []
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, rules: list[FaultRule]) -> list[ActiveFault]:
        added = [ActiveFault(rule) for rule in rules]
        with self._lock:
            self._faults.extend(added)
        return added

    def replace(self, rules: list[FaultRule]) -> None:
        """Take the rules from the config file (the ones added at runtime go too)."""
        with self._lock:
            self._faults = [ActiveFault(rule) for rule in rules]

    def clear(self) -> int:
        with self._lock:
            removed, self._faults = len(self._faults), []
        return removed

    def describe(self) -> list[dict[str, object]]:
        return [fault.describe() for fault in self._faults]

    def pick(self, service: str, operation: str) -> ActiveFault | None:
        now = time.time()
        for fault in self._faults:
            if fault.applies(service, operation) and fault.fires(now):
                return fault
        return None

    async def inject(self, fault: ActiveFault, service: str, operation: str) -> None:
        """Apply a fault that fired: wait its latency, then raise its error (if any)."""
        rule = fault.rule
        log.info(
            "fault injected: %s %s -> %s %s (+%d ms)",
            service,
            operation,
            rule.status or "latency",
            rule.error_code if rule.status else "",
            rule.latency_ms,
            extra={"service": service, "fault_id": fault.id},
        )
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.status is None:
            return
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            if rule.retry_after_format == "http-date":
                when = datetime.fromtimestamp(time.time() + rule.retry_after, UTC)
                headers["Retry-After"] = format_datetime(when, usegmt=True)
            else:
                headers["Retry-After"] = str(rule.retry_after)
            headers["x-ms-retry-after-ms"] = str(rule.retry_after * 1000)
        raise AzureError(rule.message, status=rule.status, code=rule.error_code, headers=headers)


def _timestamp(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
