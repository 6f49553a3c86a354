"""The broker's counters as Prometheus families: one series per path and counter that applies there."""

from __future__ import annotations

from adapters.servicebus.broker import MessageCounters, PathCounters
from adapters.servicebus.metrics import metric_families
from controlplane.gateway.metrics import render_families


def test_each_counter_is_exported_where_it_applies() -> None:
    queue = MessageCounters(sent=5, delivered=4, completed=2, lock_lost=1, dead_lettered={"client": 1})
    topic = MessageCounters(sent=3)
    subscription = MessageCounters(delivered=3, dead_lettered={"MaxDeliveryCountExceeded": 2})
    paths = [
        PathCounters("orders", queue, sendable=True, receivable=True),
        PathCounters("events", topic, sendable=True, receivable=False),
        PathCounters("events/Subscriptions/audit", subscription, sendable=False, receivable=True),
    ]

    text = render_families(metric_families("ns", paths)).decode()

    samples = {line for line in text.splitlines() if not line.startswith("#")}
    sub = 'entity="events/Subscriptions/audit",namespace="ns"'
    # Exactly these: no send series for a subscription, no receive series for a topic.
    assert samples == {
        'localzure_servicebus_messages_sent_total{entity="orders",namespace="ns"} 5.0',
        'localzure_servicebus_messages_sent_total{entity="events",namespace="ns"} 3.0',
        'localzure_servicebus_messages_delivered_total{entity="orders",namespace="ns"} 4.0',
        f"localzure_servicebus_messages_delivered_total{{{sub}}} 3.0",
        'localzure_servicebus_messages_completed_total{entity="orders",namespace="ns"} 2.0',
        f"localzure_servicebus_messages_completed_total{{{sub}}} 0.0",
        'localzure_servicebus_lock_losses_total{entity="orders",namespace="ns"} 1.0',
        f"localzure_servicebus_lock_losses_total{{{sub}}} 0.0",
        'localzure_servicebus_messages_dead_lettered_total{entity="orders",namespace="ns",reason="client"} 1.0',
        f'localzure_servicebus_messages_dead_lettered_total{{{sub},reason="MaxDeliveryCountExceeded"}} 2.0',
    }
    assert "# TYPE localzure_servicebus_lock_losses_total counter" in text.splitlines()
