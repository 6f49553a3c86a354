"""Prometheus metrics of the gateway and the services, served at ``/_localzure/metrics``.

Each runtime has its own registry, so several can live in one process (tests do).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "localzure_requests_total", "Requests answered", ["service", "operation", "status"], registry=r
        )
        self.latency = Histogram(
            "localzure_request_duration_seconds",
            "Time from routing to the end of the response",
            ["service", "operation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.active = Gauge("localzure_requests_active", "Requests in flight", registry=r)
        self.rate_limited = Counter(
            "localzure_rate_limited_total", "Requests refused by a rate limit", ["service"], registry=r
        )
        self.faults = Counter(
            "localzure_faults_injected_total", "Faults injected", ["service", "operation"], registry=r
        )
        self.service_up = Gauge(
            "localzure_service_up", "1 while the service is running (or degraded), else 0", ["service"], registry=r
        )
        self.container_restarts = Counter(
            "localzure_container_restarts_total", "Containers restarted after a failure", ["service"], registry=r
        )
        self.breaker_state = Gauge(
            "localzure_circuit_breaker_open", "1 while a backend's circuit breaker is open", ["service"], registry=r
        )
        self.breaker_transitions = Counter(
            "localzure_circuit_breaker_transitions_total",
            "Circuit-breaker state changes",
            ["service", "state"],
            registry=r,
        )

    def observe(self, service: str, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(service, operation, str(status)).inc()
        self.latency.labels(service, operation).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
