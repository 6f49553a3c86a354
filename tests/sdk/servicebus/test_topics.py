"""Topics: fan-out to subscriptions, SQL and correlation filters, true/false filters and rule
actions, with rules made through the administration client (rest.py, broker/router.py, filters/)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.management import (
    CorrelationRuleFilter,
    FalseRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleAction,
    SqlRuleFilter,
    TrueRuleFilter,
)

from tests.sdk.servicebus.support import TopicFactory, receive


def _drain(client: ServiceBusClient, topic: str, subscription: str, expected: int) -> list[ServiceBusReceivedMessage]:
    """Every message the subscription has: ``expected`` of them, then nothing more."""
    with client.get_subscription_receiver(topic, subscription) as receiver:
        received = receive(receiver, expected)
        for message in received:
            receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=0.5) == []
    return received


def _properties(message: ServiceBusReceivedMessage) -> dict[str, Any]:
    def text(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in (message.application_properties or {}).items()}


def _only_rule(admin: ServiceBusAdministrationClient, topic: str, subscription: str, rule: str, **options: Any) -> None:
    """A subscription whose one rule is ``rule`` (its $Default rule, which takes everything, is removed)."""
    admin.create_subscription(topic, subscription)
    admin.delete_rule(topic, subscription, "$Default")
    admin.create_rule(topic, subscription, rule, **options)


def test_every_subscription_gets_every_message(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    for name in ("s1", "s2", "s3"):
        admin.create_subscription(topic, name)
    with client.get_topic_sender(topic) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}", application_properties={"i": i}) for i in range(4)])
    for name in ("s1", "s2", "s3"):
        runtime = admin.get_subscription_runtime_properties(topic, name)
        assert runtime.active_message_count == 4
        received = _drain(client, topic, name, 4)
        assert [str(m) for m in received] == ["m0", "m1", "m2", "m3"]
        # Each subscription numbers its own copies.
        assert [m.sequence_number for m in received] == [1, 2, 3, 4]


def test_sql_filter_with_parameters_and_an_action(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    _only_rule(
        admin,
        topic,
        "high",
        "priority-and-region",
        filter=SqlRuleFilter(
            "priority > @min AND region IN ('eu', 'us') AND sys.Label LIKE 'order%'", parameters={"@min": 5}
        ),
        action=SqlRuleAction("SET routed = 'high'; SET sys.To = 'desk-' + region; REMOVE scratch"),
    )
    cases = [
        ("match-eu", {"priority": 9, "region": "eu", "scratch": 1}, "order-1"),
        ("match-us", {"priority": 6, "region": "us"}, "order-2"),
        ("low", {"priority": 5, "region": "eu"}, "order-3"),
        ("elsewhere", {"priority": 9, "region": "apac"}, "order-4"),
        ("not-an-order", {"priority": 9, "region": "eu"}, "invoice"),
        ("no-priority", {"region": "eu"}, "order-5"),
    ]
    with client.get_topic_sender(topic) as sender:
        for body, properties, subject in cases:
            sender.send_messages(ServiceBusMessage(body, application_properties=properties, subject=subject))
    received = _drain(client, topic, "high", 2)
    assert [str(m) for m in received] == ["match-eu", "match-us"]
    first, second = (_properties(m) for m in received)
    assert first["routed"] == second["routed"] == "high"
    assert "scratch" not in first
    assert (first["priority"], first["region"]) == (9, "eu")
    assert [m.to for m in received] == ["desk-eu", "desk-us"]


def test_correlation_filter(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    _only_rule(
        admin,
        topic,
        "invoices",
        "contoso-invoices",
        filter=CorrelationRuleFilter(
            label="invoice", content_type="application/json", correlation_id="c-1", properties={"tenant": "contoso"}
        ),
    )
    matching = {"subject": "invoice", "content_type": "application/json", "correlation_id": "c-1"}
    with client.get_topic_sender(topic) as sender:
        sender.send_messages(
            [
                ServiceBusMessage("yes", application_properties={"tenant": "contoso", "extra": 1}, **matching),
                ServiceBusMessage("other-tenant", application_properties={"tenant": "fabrikam"}, **matching),
                ServiceBusMessage("no-tenant", **matching),
                ServiceBusMessage(
                    "other-subject",
                    application_properties={"tenant": "contoso"},
                    **{**matching, "subject": "receipt"},
                ),
                ServiceBusMessage(
                    "other-correlation",
                    application_properties={"tenant": "contoso"},
                    **{**matching, "correlation_id": "c-2"},
                ),
            ]
        )
    assert [str(m) for m in _drain(client, topic, "invoices", 1)] == ["yes"]


def test_true_and_false_filters(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    _only_rule(admin, topic, "everything", "all", filter=TrueRuleFilter())
    _only_rule(admin, topic, "nothing", "none", filter=FalseRuleFilter())
    with client.get_topic_sender(topic) as sender:
        sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
    assert [str(m) for m in _drain(client, topic, "everything", 2)] == ["a", "b"]
    assert admin.get_subscription_runtime_properties(topic, "nothing").active_message_count == 0
    _drain(client, topic, "nothing", 0)


def test_rules_are_or_ed_and_a_subscription_without_rules_gets_nothing(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    _only_rule(admin, topic, "either", "red", filter=SqlRuleFilter("color = 'red'"))
    admin.create_rule(topic, "either", "blue", filter=CorrelationRuleFilter(properties={"color": "blue"}))
    admin.create_subscription(topic, "none")
    admin.delete_rule(topic, "none", "$Default")
    with client.get_topic_sender(topic) as sender:
        for color in ("red", "green", "blue"):
            sender.send_messages(ServiceBusMessage(color, application_properties={"color": color}))
    assert [str(m) for m in _drain(client, topic, "either", 2)] == ["red", "blue"]
    _drain(client, topic, "none", 0)


def test_a_changed_rule_applies_to_the_next_messages(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    _only_rule(admin, topic, "sub", "rule", filter=SqlRuleFilter("n = 1"))
    with client.get_topic_sender(topic) as sender:
        sender.send_messages([ServiceBusMessage("one", application_properties={"n": 1})])
        rule = admin.get_rule(topic, "sub", "rule")
        rule.filter = SqlRuleFilter("n = 2")
        admin.update_rule(topic, "sub", rule)
        sender.send_messages(
            [
                ServiceBusMessage("one again", application_properties={"n": 1}),
                ServiceBusMessage("two", application_properties={"n": 2}),
            ]
        )
    assert [str(m) for m in _drain(client, topic, "sub", 2)] == ["one", "two"]


@pytest.mark.parametrize(
    "expression",
    ["priority >", "unknown_function(x) = 1", "SET x = 1"],
)
def test_an_invalid_sql_filter_is_refused(
    admin: ServiceBusAdministrationClient, new_topic: TopicFactory, expression: str
) -> None:
    from azure.core.exceptions import HttpResponseError

    topic = new_topic().name
    admin.create_subscription(topic, "sub")
    with pytest.raises(HttpResponseError) as refused:
        admin.create_rule(topic, "sub", "bad", filter=SqlRuleFilter(expression))
    assert refused.value.status_code == 400
    assert [r.name for r in admin.list_rules(topic, "sub")] == ["$Default"]
