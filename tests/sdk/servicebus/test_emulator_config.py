"""The official emulator's sample Config.json, loaded through ``services.servicebus.config_file``
(next to entities from our YAML form), and its entities used as defined (config.py, service.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.management import (
    CorrelationRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleFilter,
    TrueRuleFilter,
)

from controlplane.testing.server import LocalZureThread
from tests.sdk.servicebus.support import receive

CONFIG_JSON = Path(__file__).parent / "data" / "emulator-config.json"
"""A copy of the sample that ships with Microsoft's Service Bus emulator."""
SETTINGS = {
    "config_file": str(CONFIG_JSON),
    # Merged into the Config.json's namespace of the same name.
    "namespaces": [{"name": "sbemulatorns", "queues": [{"name": "from-yaml", "max_delivery_count": 2}]}],
}
"""``services.servicebus``."""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    server = LocalZureThread(data_dir=tmp_path_factory.mktemp("emulator-config"), services={"servicebus": SETTINGS})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sb(emulator: LocalZureThread) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string("servicebus")) as client:
        yield client


@pytest.fixture
def management(emulator: LocalZureThread) -> Iterator[ServiceBusAdministrationClient]:
    with ServiceBusAdministrationClient.from_connection_string(
        emulator.connection_string("servicebus"), connection_verify=str(emulator.ca_file)
    ) as client:
        yield client


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _drain(receiver: Any, expected: int) -> list[ServiceBusReceivedMessage]:
    received = receive(receiver, expected)
    for message in received:
        receiver.complete_message(message)
    assert receiver.receive_messages(max_wait_time=0.5) == []
    return received


def test_the_configured_entities_exist(management: ServiceBusAdministrationClient) -> None:
    assert management.get_namespace_properties().name == "sbemulatorns"
    assert sorted(q.name for q in management.list_queues()) == [
        "audit-forwarded",
        "checkout-sessions",
        "from-yaml",
        "orders",
    ]
    orders = management.get_queue("orders")
    assert orders.dead_lettering_on_message_expiration is True
    assert orders.default_message_time_to_live == timedelta(hours=1)
    assert orders.duplicate_detection_history_time_window == timedelta(seconds=20)
    assert orders.lock_duration == timedelta(minutes=1)
    assert orders.max_delivery_count == 3
    assert orders.requires_duplicate_detection is True
    assert orders.requires_session is False
    assert orders.forward_to is None
    sessions = management.get_queue("checkout-sessions")
    assert (sessions.requires_session, sessions.lock_duration, sessions.max_delivery_count) == (
        True,
        timedelta(seconds=30),
        5,
    )
    assert management.get_queue("audit-forwarded").forward_to.endswith("orders")
    assert management.get_queue("from-yaml").max_delivery_count == 2

    assert [t.name for t in management.list_topics()] == ["events"]
    assert sorted(s.name for s in management.list_subscriptions("events")) == ["all", "high-priority", "invoices"]
    [default] = management.list_rules("events", "all")
    assert (default.name, type(default.filter)) == ("$Default", TrueRuleFilter)
    [sql] = management.list_rules("events", "high-priority")
    assert sql.name == "priority-and-region"
    assert isinstance(sql.filter, SqlRuleFilter)
    assert sql.filter.sql_expression == "priority > 5 AND region IN ('eu', 'us') AND sys.Label LIKE 'order%'"
    assert sql.action is not None and sql.action.sql_expression == "SET routed = 'high'"
    [correlation] = management.list_rules("events", "invoices")
    assert correlation.name == "invoice-correlation"
    assert isinstance(correlation.filter, CorrelationRuleFilter)
    assert (correlation.filter.content_type, correlation.filter.label) == ("application/json", "invoice")
    assert correlation.filter.properties == {"tenant": "contoso"}


def test_orders_detects_duplicates_and_audit_forwards_to_it(sb: ServiceBusClient) -> None:
    with sb.get_queue_sender("orders") as sender:
        sender.send_messages(ServiceBusMessage("order 1", message_id="o-1"))
        sender.send_messages(ServiceBusMessage("order 1 again", message_id="o-1"))
    with sb.get_queue_sender("audit-forwarded") as sender:
        sender.send_messages(ServiceBusMessage("audited", message_id="a-1"))
    with sb.get_queue_receiver("orders") as receiver:
        received = _drain(receiver, 2)
        assert [str(m) for m in received] == ["order 1", "audited"]
        assert received[0].time_to_live == timedelta(hours=1)  # the queue's default TTL


def test_checkout_sessions_requires_sessions(sb: ServiceBusClient) -> None:
    with sb.get_queue_sender("checkout-sessions") as sender:
        sender.send_messages([ServiceBusMessage(f"step {i}", session_id="cart-42") for i in range(3)])
    with sb.get_queue_receiver("checkout-sessions", session_id="cart-42") as receiver:
        assert [str(m) for m in _drain(receiver, 3)] == ["step 0", "step 1", "step 2"]


def test_events_reach_exactly_the_matching_subscriptions(sb: ServiceBusClient) -> None:
    events = [
        # body, subject, content type, application properties
        ("eu order", "order-created", None, {"priority": 9, "region": "eu"}),
        ("low order", "order-created", None, {"priority": 2, "region": "eu"}),
        ("apac order", "order-created", None, {"priority": 9, "region": "apac"}),
        ("us order", "order-shipped", None, {"priority": 6, "region": "us"}),
        ("not an order", "refund", None, {"priority": 9, "region": "eu"}),
        ("contoso invoice", "invoice", "application/json", {"tenant": "contoso"}),
        ("fabrikam invoice", "invoice", "application/json", {"tenant": "fabrikam"}),
        ("xml invoice", "invoice", "application/xml", {"tenant": "contoso"}),
    ]
    with sb.get_topic_sender("events") as sender:
        sender.send_messages(
            [
                ServiceBusMessage(body, subject=subject, content_type=content_type, application_properties=props)
                for body, subject, content_type, props in events
            ]
        )
    with sb.get_subscription_receiver("events", "all") as receiver:
        assert [str(m) for m in _drain(receiver, len(events))] == [e[0] for e in events]
    with sb.get_subscription_receiver("events", "high-priority") as receiver:
        high = _drain(receiver, 2)
        assert [str(m) for m in high] == ["eu order", "us order"]
        assert all(_text(m.application_properties[b"routed"]) == "high" for m in high)
    with sb.get_subscription_receiver("events", "invoices") as receiver:
        invoices = _drain(receiver, 1)
        assert [str(m) for m in invoices] == ["contoso invoice"]
        assert b"routed" not in invoices[0].application_properties
