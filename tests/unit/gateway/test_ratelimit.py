import pytest
from pydantic import ValidationError

from controlplane.gateway.ratelimit import RateLimiter, RateLimitRule, ServerBusyThrottled, TooManyRequests


def test_off_without_rules() -> None:
    limiter = RateLimiter()
    assert not limiter
    for _ in range(1000):
        limiter.check("blob", "acct", "127.0.0.1", storage=True)


def test_per_account_budget_and_storage_answer() -> None:
    limiter = RateLimiter()
    limiter.replace([RateLimitRule(scope="account", limit="3/minute")])
    for _ in range(3):
        limiter.check("queue", "a", "c", storage=True)
    limiter.check("queue", "b", "c", storage=True)  # another account has its own budget
    with pytest.raises(ServerBusyThrottled) as info:
        limiter.check("queue", "a", "c", storage=True)
    assert info.value.status == 503
    assert 0 < int(info.value.headers["Retry-After"]) <= 60
    assert int(info.value.headers["x-ms-retry-after-ms"]) > 0
    assert limiter.rejected == 1


def test_non_storage_services_get_429() -> None:
    limiter = RateLimiter()
    limiter.replace([RateLimitRule(scope="client", service="servicebus", limit="1/minute")])
    limiter.check("servicebus", "ns", "10.0.0.1", storage=False)
    limiter.check("blob", "acct", "10.0.0.1", storage=True)  # the rule covers one service only
    with pytest.raises(TooManyRequests) as info:
        limiter.check("servicebus", "ns", "10.0.0.1", storage=False)
    assert info.value.status == 429


def test_bad_limit_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        RateLimitRule(limit="lots")
