"""Prometheus metrics of the gateway and the services, served at ``/_localzure/metrics``.

Each runtime has its own registry, so several can live in one process (tests do). A
service's own families (``Service.metrics``) join them at scrape time; a service's port
also serves its families alone at the same path, in the same text format, which is how
a service in a container reports them to the control plane in front of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from controlplane.adapter import Service

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SERVICE_METRICS_PATH = "/_localzure/metrics"


class GatewayMetrics:
    def __init__(self, slots: Mapping[str, Any], inflight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
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
        self.active.set_function(inflight)
        self.rate_limited = Counter(
            "localzure_rate_limited_total", "Requests refused by a rate limit", ["service"], registry=r
        )
        self.faults = Counter(
            "localzure_faults_injected_total", "Faults injected", ["service", "operation"], registry=r
        )
        self.registry.register(_SlotCollector(slots))

    def observe(self, service: str, operation: str, status: int, seconds: float) -> None:
        key = (service, operation, status)
        children = self._children.get(key)
        if children is None:
            # labels() takes a lock and builds a tuple on every call: look each series up once.
            children = self._children[key] = (
                self.requests.labels(service, operation, str(status)),
                self.latency.labels(service, operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def render_families(families: Iterable[Metric]) -> bytes:
    """Families in the Prometheus text format (what a service's port answers at ``SERVICE_METRICS_PATH``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families)))
    return generate_latest(registry)


def parse_families(text: str) -> list[Metric]:
    """The families of a text-format answer (ValueError when it is not one)."""
    return list(text_string_to_metric_families(text))


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class _SlotCollector(Collector):
    """Read at scrape time from the services themselves: health, container restarts, breakers,
    and each service's own families."""

    def __init__(self, slots: Mapping[str, Any]) -> None:
        self.slots = slots

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("localzure_service_up", "1 while the service is running or degraded", labels=["service"])
        restarts = CounterMetricFamily(
            "localzure_container_restarts", "Containers restarted after a failure", labels=["service"]
        )
        open_ = GaugeMetricFamily(
            "localzure_circuit_breaker_open", "1 while a backend's circuit breaker is open", labels=["service"]
        )
        moves = CounterMetricFamily(
            "localzure_circuit_breaker_transitions", "Circuit-breaker state changes", labels=["service", "state"]
        )
        for name, slot in self.slots.items():
            up.add_metric([name], float(str(slot.state) in ("running", "degraded")))
            restarts.add_metric([name], float(getattr(slot.runner, "restarts", 0)))
            breaker = getattr(slot.service, "breaker", None)
            if breaker is not None:
                open_.add_metric([name], float(str(breaker.state) == "open"))
                for state, count in breaker.transitions.items():
                    moves.add_metric([name, str(state)], float(count))
        yield from (up, restarts, open_, moves)
        for name, slot in self.slots.items():
            if isinstance(slot.service, Service):
                yield from service_families(name, slot.service)


def service_families(name: str, service: Service) -> list[Metric]:
    """A service's own families; none when building them fails, which is logged: one service's
    failure must not cost the scrape everyone else's metrics."""
    try:
        return list(service.metrics())
    except Exception:
        log.exception("service %s: its metrics failed", name, extra={"service": name})
        return []
