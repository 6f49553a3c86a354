from types import SimpleNamespace

from controlplane.gateway.metrics import GatewayMetrics
from controlplane.runners.forward import CircuitBreaker


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
