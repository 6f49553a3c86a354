from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from controlplane.gateway.errors import AzureError
from controlplane.gateway.faults import FaultInjector, FaultRule


def fired(rule: FaultRule, requests: int, operation: str = "PutBlob") -> list[bool]:
    injector = FaultInjector()
    injector.add([rule])
    return [injector.pick("blob", operation) is not None for _ in range(requests)]


def test_count_caps_the_fires() -> None:
    assert fired(FaultRule(service="blob", operation="PutBlob", count=2), 5) == [True, True, False, False, False]


def test_only_matching_service_and_operation() -> None:
    injector = FaultInjector()
    injector.add([FaultRule(service="blob", operation="PutBlob")])
    assert injector.pick("blob", "GetBlob") is None
    assert injector.pick("queue", "PutBlob") is None
    assert injector.pick("blob", "PutBlob") is not None


def test_every_nth() -> None:
    assert fired(FaultRule(every=3), 7) == [False, False, True, False, False, True, False]


def test_bursts_with_gaps() -> None:
    assert fired(FaultRule(burst=2, gap=3), 10) == [True, True, False, False, False] * 2


def test_seeded_probability_repeats_exactly() -> None:
    first = fired(FaultRule(probability=0.5, seed=42), 50)
    assert first == fired(FaultRule(probability=0.5, seed=42), 50)
    assert 10 < sum(first) < 40


def test_time_window() -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert fired(FaultRule(ends_at=past), 3) == [False] * 3
    assert fired(FaultRule(starts_at=past), 2) == [True, True]
    assert fired(FaultRule(starts_at=datetime.now(UTC) + timedelta(hours=1)), 2) == [False, False]


def test_counters_are_described() -> None:
    injector = FaultInjector()
    injector.add([FaultRule(operation="PutBlob", count=1)])
    injector.pick("blob", "PutBlob")
    injector.pick("blob", "PutBlob")
    [described] = injector.describe()
    assert (described["matched"], described["fired"], described["spent"]) == (1, 1, True)


async def test_injected_error_carries_status_code_and_retry_after() -> None:
    injector = FaultInjector()
    [fault] = injector.add([FaultRule(status=503, error_code="ServerBusy", retry_after=2)])
    with pytest.raises(AzureError) as info:
        await injector.inject(fault, "blob", "PutBlob")
    assert (info.value.status, info.value.code) == (503, "ServerBusy")
    assert info.value.headers == {"Retry-After": "2", "x-ms-retry-after-ms": "2000"}


async def test_retry_after_as_http_date() -> None:
    injector = FaultInjector()
    [fault] = injector.add([FaultRule(retry_after=5, retry_after_format="http-date")])
    with pytest.raises(AzureError) as info:
        await injector.inject(fault, "blob", "PutBlob")
    assert info.value.headers["Retry-After"].endswith(" GMT")


async def test_latency_only_rule_does_not_fail() -> None:
    injector = FaultInjector()
    [fault] = injector.add([FaultRule(status=None, latency_ms=20)])
    await injector.inject(fault, "queue", "PutMessage")


def test_a_rule_must_do_something() -> None:
    with pytest.raises(ValidationError):
        FaultRule(status=None)
