"""The broker's per-path counters as Prometheus metric families (what ``Service.metrics`` returns).

Built at scrape time from the integers the broker bumps, so counting costs the hot path
nothing beyond the increment. ``entity`` is the path clients address: ``queue``,
``topic``, ``topic/Subscriptions/sub``, either with ``/$DeadLetterQueue``.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily

from adapters.servicebus.broker import PathCounters

_LABELS = ["namespace", "entity"]


def metric_families(namespace: str, paths: list[PathCounters]) -> list[CounterMetricFamily]:
    sent = CounterMetricFamily(
        "localzure_servicebus_messages_sent_total",
        "Messages accepted by a send to a queue or topic",
        labels=_LABELS,
    )
    delivered = CounterMetricFamily(
        "localzure_servicebus_messages_delivered_total",
        "Messages handed to receivers: every peek-lock delivery, redeliveries included, and every receive-and-delete",
        labels=_LABELS,
    )
    completed = CounterMetricFamily(
        "localzure_servicebus_messages_completed_total",
        "Messages consumed: completed under a peek-lock, or received in receive-and-delete mode",
        labels=_LABELS,
    )
    dead_lettered = CounterMetricFamily(
        "localzure_servicebus_messages_dead_lettered_total",
        "Messages moved to a dead-letter queue, by the broker's reason ('client' when a receiver asked)",
        labels=[*_LABELS, "reason"],
    )
    lock_lost = CounterMetricFamily(
        "localzure_servicebus_lock_losses_total",
        "Message and session locks that expired before their holder settled or renewed them",
        labels=_LABELS,
    )
    for path, counters, sendable, receivable in paths:
        labels = [namespace, path]
        if sendable:
            sent.add_metric(labels, counters.sent)
        if receivable:
            delivered.add_metric(labels, counters.delivered)
            completed.add_metric(labels, counters.completed)
            lock_lost.add_metric(labels, counters.lock_lost)
        for reason, count in tuple(counters.dead_lettered.items()):
            dead_lettered.add_metric([namespace, path, reason], count)
    return [sent, delivered, completed, dead_lettered, lock_lost]
