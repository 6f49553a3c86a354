"""Render -> parse round trips, the bytes the SDK really sends, and the element order it declares."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus.management import (
    CorrelationRuleFilter,
    FalseRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleAction,
    SqlRuleFilter,
)
from azure.servicebus.management._generated import models as sdk_models

from adapters.servicebus import entities
from adapters.servicebus.entities import (
    MAX_TIMESPAN,
    CorrelationFilter,
    EntityStatus,
    FalseFilter,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SubscriptionProperties,
    TopicProperties,
    TrueFilter,
)
from adapters.servicebus.management import parse, render
from adapters.servicebus.management.errors import BadRequest
from adapters.servicebus.management.render import MessageCounts
from tests.unit.adapters.servicebus.management.sdk_transport import BASE_URL, FakeManagementService

WHEN = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
COUNTS = MessageCounts(active=1, dead_letter=2, scheduled=3, transfer=4, transfer_dead_letter=5, size_in_bytes=99)


def _stamped(entity: Any) -> Any:
    """The entity with fixed timestamps: parsing stamps a new entity with the current time."""
    if isinstance(entity, RuleProperties):
        return replace(entity, created_at=WHEN)
    return replace(entity, created_at=WHEN, updated_at=WHEN, accessed_at=WHEN)


def _description(body: bytes) -> ET.Element:
    content = ET.fromstring(body).find("{http://www.w3.org/2005/Atom}content")
    assert content is not None
    return content[0]


def _local_names(element: ET.Element) -> list[str]:
    return [child.tag.rpartition("}")[2] for child in element]


# --- round trips --------------------------------------------------------------------------


def test_queue_round_trip() -> None:
    queue = QueueProperties(
        name="orders/eu",
        lock_duration=timedelta(seconds=45),
        max_size_in_megabytes=2048,
        requires_duplicate_detection=True,
        requires_session=True,
        default_message_time_to_live=timedelta(hours=2),
        dead_lettering_on_message_expiration=True,
        duplicate_detection_history_time_window=timedelta(minutes=3),
        max_delivery_count=4,
        enable_batched_operations=False,
        status=EntityStatus.SEND_DISABLED,
        forward_to="audit",
        forward_dead_lettered_messages_to="graveyard",
        auto_delete_on_idle=timedelta(hours=6),
        enable_partitioning=True,
        enable_express=True,
        user_metadata="owner=<team & co>",
        max_message_size_in_kilobytes=2048,
    )
    body = render.render_entry(render.queue_entry(queue, COUNTS, BASE_URL))
    assert _stamped(parse.parse_queue(queue.name, body)) == _stamped(queue)


def test_queue_with_defaults_round_trips_max_timespans() -> None:
    queue = QueueProperties("plain")
    body = render.render_entry(render.queue_entry(queue, MessageCounts(), BASE_URL))
    assert b"<DefaultMessageTimeToLive>P10675199DT2H48M5.4775807S</DefaultMessageTimeToLive>" in body
    parsed = parse.parse_queue("plain", body)
    assert parsed.default_message_time_to_live == MAX_TIMESPAN
    assert _stamped(parsed) == _stamped(queue)


def test_topic_round_trip() -> None:
    topic = TopicProperties(
        name="events",
        max_size_in_megabytes=5120,
        requires_duplicate_detection=True,
        default_message_time_to_live=timedelta(days=1),
        duplicate_detection_history_time_window=timedelta(seconds=20),
        enable_batched_operations=False,
        status=EntityStatus.DISABLED,
        support_ordering=False,
        auto_delete_on_idle=timedelta(minutes=5),
        enable_partitioning=True,
        enable_express=True,
        user_metadata="meta",
        max_message_size_in_kilobytes=102400,
    )
    body = render.render_entry(render.topic_entry(topic, COUNTS, 7, BASE_URL))
    assert _stamped(parse.parse_topic("events", body)) == _stamped(topic)
    assert _stamped(parse.parse_entity("events", body)) == _stamped(topic)


def test_subscription_round_trip() -> None:
    subscription = SubscriptionProperties(
        topic_name="events",
        name="audit",
        lock_duration=timedelta(minutes=5),
        requires_session=True,
        default_message_time_to_live=timedelta(minutes=10),
        dead_lettering_on_message_expiration=True,
        dead_lettering_on_filter_evaluation_exceptions=False,
        max_delivery_count=1,
        enable_batched_operations=False,
        status=EntityStatus.RECEIVE_DISABLED,
        forward_to="archive",
        forward_dead_lettered_messages_to="graveyard",
        auto_delete_on_idle=timedelta(days=3),
        user_metadata="m",
    )
    body = render.render_entry(render.subscription_entry(subscription, COUNTS, BASE_URL))
    assert _stamped(parse.parse_subscription("events", "audit", body)) == _stamped(subscription)


@pytest.mark.parametrize(
    "rule",
    [
        RuleProperties("t", "s", "$Default"),
        RuleProperties("t", "s", "never", FalseFilter()),
        RuleProperties(
            "t",
            "s",
            "sql",
            SqlFilter(
                "color = @color AND size > @size",
                {
                    "@color": "blue & <green>",
                    "@size": 3,
                    "@big": 2**40,
                    "@ratio": 0.25,
                    "@on": True,
                    "@at": WHEN,
                    "@for": timedelta(minutes=2),
                },
            ),
            entities.SqlRuleAction("SET x = @x", {"@x": "y"}),
        ),
        RuleProperties(
            "t",
            "s",
            "correlation",
            CorrelationFilter(
                correlation_id="c",
                message_id="m",
                to="to",
                reply_to="r",
                subject="label",
                session_id="s",
                reply_to_session_id="rs",
                content_type="application/json",
                properties={"tenant": "contoso", "tier": 2, "vip": False},
            ),
        ),
    ],
    ids=["true", "false", "sql-with-action", "correlation"],
)
def test_rule_round_trip(rule: RuleProperties) -> None:
    body = render.render_entry(render.rule_entry(rule, BASE_URL))
    assert _stamped(parse.parse_rule(rule.topic_name, rule.subscription_name, rule.name, body)) == _stamped(rule)


# --- what the SDK sends -------------------------------------------------------------------


def _sent_body(service: FakeManagementService) -> bytes:
    method, _url, _headers, body = service.requests[-1]
    assert method == "PUT"
    return body


def test_parses_the_queue_the_sdk_serializes(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_queue("sink")
    client.create_queue(
        "orders",
        auto_delete_on_idle=timedelta(minutes=30),
        dead_lettering_on_message_expiration=True,
        default_message_time_to_live="PT2H",
        duplicate_detection_history_time_window=timedelta(minutes=2),
        enable_batched_operations=False,
        enable_express=True,
        enable_partitioning=True,
        lock_duration=timedelta(seconds=20),
        max_delivery_count=6,
        max_size_in_megabytes=3072,
        requires_duplicate_detection=True,
        requires_session=True,
        forward_to="sink",
        forward_dead_lettered_messages_to="sink",
        user_metadata="hello",
        max_message_size_in_kilobytes=4096,
    )
    body = _sent_body(service)
    assert b"<ForwardTo>sb://sbemulatorns.localhost/sink</ForwardTo>" in body
    expected = QueueProperties(
        name="orders",
        lock_duration=timedelta(seconds=20),
        max_size_in_megabytes=3072,
        requires_duplicate_detection=True,
        requires_session=True,
        default_message_time_to_live=timedelta(hours=2),
        dead_lettering_on_message_expiration=True,
        duplicate_detection_history_time_window=timedelta(minutes=2),
        max_delivery_count=6,
        enable_batched_operations=False,
        forward_to="sink",
        forward_dead_lettered_messages_to="sink",
        auto_delete_on_idle=timedelta(minutes=30),
        enable_partitioning=True,
        enable_express=True,
        user_metadata="hello",
        max_message_size_in_kilobytes=4096,
    )
    assert _stamped(parse.parse_queue("orders", body)) == _stamped(expected)


def test_parses_the_topic_the_sdk_serializes(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_topic(
        "events",
        default_message_time_to_live=timedelta(days=2),
        max_size_in_megabytes=2048,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(hours=1),
        enable_batched_operations=False,
        support_ordering=False,
        auto_delete_on_idle=timedelta(hours=1),
        enable_partitioning=True,
        enable_express=True,
        user_metadata="t",
        max_message_size_in_kilobytes=1024,
    )
    expected = TopicProperties(
        name="events",
        max_size_in_megabytes=2048,
        requires_duplicate_detection=True,
        default_message_time_to_live=timedelta(days=2),
        duplicate_detection_history_time_window=timedelta(hours=1),
        enable_batched_operations=False,
        support_ordering=False,
        auto_delete_on_idle=timedelta(hours=1),
        enable_partitioning=True,
        enable_express=True,
        user_metadata="t",
    )
    assert _stamped(parse.parse_entity("events", _sent_body(service))) == _stamped(expected)


def test_parses_the_subscription_the_sdk_serializes(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_topic("events")
    client.create_queue("sink")
    client.create_subscription(
        "events",
        "audit",
        lock_duration=timedelta(seconds=90),
        requires_session=True,
        default_message_time_to_live=timedelta(minutes=15),
        dead_lettering_on_message_expiration=True,
        dead_lettering_on_filter_evaluation_exceptions=False,
        max_delivery_count=2,
        enable_batched_operations=False,
        forward_to="sink",
        user_metadata="s",
        forward_dead_lettered_messages_to="sink",
        auto_delete_on_idle=timedelta(minutes=10),
    )
    body = _sent_body(service)
    expected = SubscriptionProperties(
        topic_name="events",
        name="audit",
        lock_duration=timedelta(seconds=90),
        requires_session=True,
        default_message_time_to_live=timedelta(minutes=15),
        dead_lettering_on_message_expiration=True,
        dead_lettering_on_filter_evaluation_exceptions=False,
        max_delivery_count=2,
        enable_batched_operations=False,
        forward_to="sink",
        forward_dead_lettered_messages_to="sink",
        auto_delete_on_idle=timedelta(minutes=10),
        user_metadata="s",
    )
    assert _stamped(parse.parse_subscription("events", "audit", body)) == _stamped(expected)
    assert parse.parse_default_rule("events", "audit", body).filter == TrueFilter()


def test_parses_the_rules_the_sdk_serializes(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_topic("t")
    client.create_subscription("t", "s")
    # The SDK writes instants without their fraction of a second.
    instant = WHEN.replace(microsecond=0)
    parameters = {"@s": "x", "@i": 1, "@l": 2**40, "@f": 1.5, "@b": True, "@d": instant, "@t": timedelta(minutes=1)}
    client.create_rule("t", "s", "sql", filter=SqlRuleFilter("a = @i", parameters), action=SqlRuleAction("SET b = 1"))
    sql = parse.parse_rule("t", "s", "sql", _sent_body(service))
    assert sql.filter == SqlFilter("a = @i", parameters)
    assert sql.action == entities.SqlRuleAction("SET b = 1")

    correlation = CorrelationRuleFilter(correlation_id="c", label="invoice", content_type="x", properties={"k": 5})
    client.create_rule("t", "s", "corr", filter=correlation)
    parsed = parse.parse_rule("t", "s", "corr", _sent_body(service))
    assert parsed.filter == CorrelationFilter(
        correlation_id="c", subject="invoice", content_type="x", properties={"k": 5}
    )
    assert parsed.action is None

    client.create_rule("t", "s", "all")
    assert parse.parse_rule("t", "s", "all", _sent_body(service)).filter == TrueFilter()
    client.create_rule("t", "s", "none", filter=FalseRuleFilter())
    assert parse.parse_rule("t", "s", "none", _sent_body(service)).filter == FalseFilter()


def test_parses_a_dotnet_subscription_with_a_default_rule() -> None:
    # As Azure.Messaging.ServiceBus writes it: XLinq picks its own prefixes for xsi and xsd.
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">
<SubscriptionDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">
<LockDuration>PT1M</LockDuration><RequiresSession>false</RequiresSession>
<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>
<DeadLetteringOnFilterEvaluationExceptions>true</DeadLetteringOnFilterEvaluationExceptions>
<DefaultRuleDescription>
  <Filter p5:type="SqlFilter" xmlns:p5="http://www.w3.org/2001/XMLSchema-instance">
    <SqlExpression>region = @r</SqlExpression>
    <Parameters><KeyValueOfstringanyType><Key>@r</Key>
      <Value p7:type="l28:string" xmlns:l28="http://www.w3.org/2001/XMLSchema"
             xmlns:p7="http://www.w3.org/2001/XMLSchema-instance">eu</Value>
    </KeyValueOfstringanyType></Parameters>
  </Filter>
  <Action p5:type="EmptyRuleAction" xmlns:p5="http://www.w3.org/2001/XMLSchema-instance"/>
  <Name>eu-only</Name>
</DefaultRuleDescription>
<MaxDeliveryCount>10</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>
<Status>Active</Status>
</SubscriptionDescription></content></entry>"""
    assert parse.parse_subscription("t", "s", body).max_delivery_count == 10
    rule = parse.parse_default_rule("t", "s", body)
    assert (rule.name, rule.filter, rule.action) == ("eu-only", SqlFilter("region = @r", {"@r": "eu"}), None)


# --- the order the SDK's models declare ---------------------------------------------------


def _sdk_element_names(model: type) -> list[str]:
    names = []
    for attribute in model._attribute_map.values():  # type: ignore[attr-defined]
        xml_name = attribute.get("xml", {}).get("name")
        if xml_name is None:
            nested = getattr(sdk_models, attribute["type"].strip("[]"), None)
            xml_name = nested._xml_map["name"] if nested is not None else None
        if xml_name is not None and not attribute.get("xml", {}).get("attr"):
            names.append(xml_name)
    return names


@pytest.mark.parametrize(
    ("body", "model"),
    [
        (
            render.render_entry(
                render.queue_entry(QueueProperties("q", forward_to="x", user_metadata="m"), COUNTS, BASE_URL)
            ),
            sdk_models.QueueDescription,
        ),
        (
            render.render_entry(render.topic_entry(TopicProperties("t", user_metadata="m"), COUNTS, 1, BASE_URL)),
            sdk_models.TopicDescription,
        ),
        (
            render.render_entry(
                render.subscription_entry(SubscriptionProperties("t", "s", forward_to="x"), COUNTS, BASE_URL)
            ),
            sdk_models.SubscriptionDescription,
        ),
        (render.render_entry(render.rule_entry(RuleProperties("t", "s", "r"), BASE_URL)), sdk_models.RuleDescription),
        (render.render_entry(render.namespace_entry("ns", WHEN, WHEN, BASE_URL)), sdk_models.NamespaceProperties),
    ],
    ids=["queue", "topic", "subscription", "rule", "namespace"],
)
def test_elements_come_in_the_sdk_models_order(body: bytes, model: type) -> None:
    ours = _local_names(_description(body))
    declared = _sdk_element_names(model)
    assert set(ours) <= set(declared)
    assert ours == [name for name in declared if name in ours]


def test_count_details_come_in_the_sdk_models_order() -> None:
    body = render.render_entry(render.queue_entry(QueueProperties("q"), COUNTS, BASE_URL))
    details = _description(body).find(
        "{http://schemas.microsoft.com/netservices/2010/10/servicebus/connect}CountDetails"
    )
    assert details is not None
    assert all(
        child.tag.startswith("{http://schemas.microsoft.com/netservices/2011/06/servicebus}") for child in details
    )
    assert _local_names(details) == _sdk_element_names(sdk_models.MessageCountDetails)


def test_literal_prefixes_the_js_sdk_matches_textually() -> None:
    # @azure/service-bus reads "i:type", "d2p1:..." and "d6p1:<type>" as plain attribute and element names.
    rule = RuleProperties("t", "s", "r", SqlFilter("a = @a", {"@a": 1}))
    rule_body = render.render_entry(render.rule_entry(rule, BASE_URL))
    assert b'<Filter i:type="SqlFilter">' in rule_body
    assert b'<Value i:type="d6p1:int" xmlns:d6p1="http://www.w3.org/2001/XMLSchema">1</Value>' in rule_body
    queue_body = render.render_entry(render.queue_entry(QueueProperties("q"), COUNTS, BASE_URL))
    assert b"<d2p1:ActiveMessageCount>1</d2p1:ActiveMessageCount>" in queue_body


def test_entry_ids_name_subscriptions_and_rules_with_capitalised_segments() -> None:
    body = render.render_entry(render.rule_entry(RuleProperties("orders", "audit", "r1"), BASE_URL))
    entry_id = ET.fromstring(body).findtext("{http://www.w3.org/2005/Atom}id")
    assert entry_id == f"{BASE_URL}/orders/Subscriptions/audit/Rules/r1"


# --- bad bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not well-formed"),
        (b"<entry", "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><entry/>', "document type declaration"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "ATOM entry"),
        (b"<entry xmlns='http://www.w3.org/2005/Atom'><content type='application/xml'/></entry>", "ATOM entry"),
    ],
)
def test_bad_bodies_are_400(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse.parse_queue("q", body)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_a_description_of_another_kind_is_400() -> None:
    body = render.render_entry(render.topic_entry(TopicProperties("t"), COUNTS, 0, BASE_URL))
    with pytest.raises(BadRequest, match="must contain a QueueDescription, not a TopicDescription"):
        parse.parse_queue("t", body)
    with pytest.raises(BadRequest, match="SubscriptionDescription"):
        parse.parse_subscription("t", "s", body)
