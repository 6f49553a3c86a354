from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace

from prometheus_client.core import CounterMetricFamily, Metric

from controlplane.adapter import Operation, RequestTarget, Service
from controlplane.gateway.metrics import GatewayMetrics, parse_families, render_families
from controlplane.runners.forward import CircuitBreaker


class CountingService(Service):
    """A service with families of its own (or whose families fail to build)."""

    def __init__(self, sent: int | None) -> None:
        self.sent = sent

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        return Operation("Get")

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        raise NotImplementedError

    def metrics(self) -> Iterable[Metric]:
        if self.sent is None:
            raise RuntimeError("broken")
        family = CounterMetricFamily("localzure_demo_sent_total", "Sent", labels=["entity"])
        family.add_metric(["orders"], self.sent)
        return [family]


def test_service_health_restarts_and_breakers_are_read_at_scrape_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker("blob", threshold=1, reset_after=5, clock=lambda: now[0])
    blob = SimpleNamespace(
        state="running", runner=SimpleNamespace(restarts=2), service=SimpleNamespace(breaker=breaker)
    )
    queue = SimpleNamespace(state="failed", runner=SimpleNamespace(), service=None)
    metrics = GatewayMetrics({"blob": blob, "queue": queue}, inflight=lambda: 3)
    breaker.failure()  # opens after one failure

    text = metrics.render().decode()

    assert 'localzure_service_up{service="blob"} 1.0' in text
    assert 'localzure_service_up{service="queue"} 0.0' in text
    assert 'localzure_container_restarts_total{service="blob"} 2.0' in text
    assert 'localzure_circuit_breaker_open{service="blob"} 1.0' in text
    assert 'localzure_circuit_breaker_transitions_total{service="blob",state="open"} 1.0' in text
    assert "localzure_requests_active 3.0" in text


def test_requests_are_counted_per_operation_and_status() -> None:
    metrics = GatewayMetrics({}, inflight=lambda: 0)
    for _ in range(3):
        metrics.observe("blob", "GetBlob", 200, 0.002)
    metrics.observe("blob", "GetBlob", 404, 0.001)
    text = metrics.render().decode()
    assert 'localzure_requests_total{operation="GetBlob",service="blob",status="200"} 3.0' in text
    assert 'localzure_requests_total{operation="GetBlob",service="blob",status="404"} 1.0' in text
    assert 'localzure_request_duration_seconds_count{operation="GetBlob",service="blob"} 4.0' in text


def test_each_services_own_families_are_read_at_scrape_time_and_a_failing_one_is_skipped() -> None:
    working = CountingService(sent=1)
    slots = {
        "broken": SimpleNamespace(state="running", runner=SimpleNamespace(), service=CountingService(sent=None)),
        "demo": SimpleNamespace(state="running", runner=SimpleNamespace(), service=working),
    }
    metrics = GatewayMetrics(slots, inflight=lambda: 0)
    working.sent = 7

    text = metrics.render().decode()

    assert 'localzure_demo_sent_total{entity="orders"} 7.0' in text
    assert 'localzure_service_up{service="broken"} 1.0' in text


def test_families_survive_the_text_format_unchanged() -> None:
    family = CounterMetricFamily("localzure_demo_sent_total", 'Sent, with \\ and "quotes"', labels=["entity", "reason"])
    family.add_metric(["a/Subscriptions/b", 'say "no"'], 3)
    family.add_metric(["c", "x\ny"], 4)
    text = render_families([family])

    assert render_families(parse_families(text.decode())) == text
    assert 'reason="say \\"no\\""' in text.decode()
