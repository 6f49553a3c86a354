import pytest
from pydantic import ValidationError

from controlplane.gateway.ratelimit import (
    RateLimiter,
    RateLimitRule,
    ServerBusyThrottled,
    TooManyRequests,
    parse_limit,
)


async def test_off_without_rules() -> None:
    limiter = RateLimiter()
    assert not limiter
    for _ in range(1000):
        await limiter.check("blob", "acct", "127.0.0.1", storage=True)


async def test_per_account_budget_and_storage_answer() -> None:
    limiter = RateLimiter()
    limiter.replace([RateLimitRule(scope="account", limit="3/minute")])
    for _ in range(3):
        await limiter.check("queue", "a", "c", storage=True)
    await limiter.check("queue", "b", "c", storage=True)  # another account has its own budget
    with pytest.raises(ServerBusyThrottled) as info:
        await limiter.check("queue", "a", "c", storage=True)
    assert info.value.status == 503
    assert info.value.headers == {"Retry-After": "20", "x-ms-retry-after-ms": "20000"}
    assert limiter.rejected == 1


async def test_non_storage_services_get_429() -> None:
    limiter = RateLimiter()
    limiter.replace([RateLimitRule(scope="client", service="servicebus", limit="1/minute")])
    await limiter.check("servicebus", "ns", "10.0.0.1", storage=False)
    await limiter.check("blob", "acct", "10.0.0.1", storage=True)  # the rule covers one service only
    with pytest.raises(TooManyRequests) as info:
        await limiter.check("servicebus", "ns", "10.0.0.1", storage=False)
    assert info.value.status == 429


def test_limit_texts() -> None:
    assert parse_limit("100/second") == (100, 1.0)
    assert parse_limit("1000 per minute") == (1000, 60.0)
    assert parse_limit("10/5 seconds") == (10, 5.0)
    assert parse_limit("2 per Hour") == (2, 3600.0)


@pytest.mark.parametrize("text", ["lots", "0/second", "5/fortnight", "-1/second"])
def test_bad_limit_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        RateLimitRule(limit=text)
