"""Values the service refuses come back as 400s naming the property; names follow the service's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.servicebus.entities import (
    CorrelationFilter,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SubscriptionProperties,
    TopicProperties,
)
from adapters.servicebus.management import parse, render, validation
from adapters.servicebus.management.errors import BadRequest, render_error
from adapters.servicebus.management.render import MessageCounts
from adapters.servicebus.management.validation import InvalidProperty
from tests.unit.adapters.servicebus.management.sdk_transport import BASE_URL


def _queue_body(**elements: str) -> bytes:
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in elements.items())
    return (
        '<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
        '<QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">'
        f"{inner}</QueueDescription></content></entry>"
    ).encode()


@pytest.mark.parametrize(
    ("elements", "field"),
    [
        ({"LockDuration": "PT4S"}, "LockDuration"),
        ({"LockDuration": "PT5M1S"}, "LockDuration"),
        ({"LockDuration": "soon"}, "LockDuration"),
        ({"MaxDeliveryCount": "0"}, "MaxDeliveryCount"),
        ({"MaxDeliveryCount": "three"}, "MaxDeliveryCount"),
        ({"DefaultMessageTimeToLive": "PT0S"}, "DefaultMessageTimeToLive"),
        ({"DuplicateDetectionHistoryTimeWindow": "PT19S"}, "DuplicateDetectionHistoryTimeWindow"),
        ({"DuplicateDetectionHistoryTimeWindow": "P8D"}, "DuplicateDetectionHistoryTimeWindow"),
        ({"AutoDeleteOnIdle": "PT4M"}, "AutoDeleteOnIdle"),
        ({"MaxSizeInMegabytes": "100"}, "MaxSizeInMegabytes"),
        ({"MaxMessageSizeInKilobytes": "256"}, "MaxMessageSizeInKilobytes"),
        ({"RequiresSession": "yes"}, "RequiresSession"),
        ({"Status": "Creating"}, "Status"),
        ({"UserMetadata": "x" * 1025}, "UserMetadata"),
        ({"ForwardTo": "sb://sbemulatorns.localhost/q"}, "ForwardTo"),  # the queue itself
        ({"ForwardTo": "bad name"}, "ForwardTo"),
    ],
)
def test_queue_values_the_service_refuses(elements: dict[str, str], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse.parse_queue("q", _queue_body(**elements))
    assert caught.value.status == 400
    assert caught.value.message.startswith("SubCode=40000. ")
    assert f"for the {field} property is invalid" in caught.value.message


def test_limits_are_inclusive() -> None:
    queue = parse.parse_queue("q", _queue_body(LockDuration="PT5M", DuplicateDetectionHistoryTimeWindow="P7D"))
    assert (queue.lock_duration, queue.duplicate_detection_history_time_window) == (timedelta(minutes=5), timedelta(7))
    assert parse.parse_queue("q", _queue_body(LockDuration="PT5S", MaxDeliveryCount="1")).max_delivery_count == 1


def test_parsing_is_permissive_about_order_unknown_elements_and_nil() -> None:
    body = _queue_body(MaxDeliveryCount="4", SomethingNew="x", LockDuration="PT30S", MessageCount="99")
    body = body.replace(
        b"<SomethingNew>",
        b'<ForwardTo xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/><SomethingNew>',
    )
    queue = parse.parse_queue("q", body)
    assert (queue.max_delivery_count, queue.lock_duration, queue.forward_to) == (4, timedelta(seconds=30), None)


def test_topic_statuses() -> None:
    body = render.render_entry(render.topic_entry(TopicProperties("t"), MessageCounts(), 0, BASE_URL))
    with pytest.raises(BadRequest, match="a topic status must be one of Active, Disabled, SendDisabled"):
        parse.parse_topic("t", body.replace(b"<Status>Active</Status>", b"<Status>ReceiveDisabled</Status>"))


@pytest.mark.parametrize("name", ["orders", "a", "orders/eu/2024", "with.dots-and_under~tilde", "x" * 260])
def test_valid_queue_names(name: str) -> None:
    validation.check_entity_path(name)


@pytest.mark.parametrize(
    "name", ["", "x" * 261, "/orders", "orders/", "a//b", "has space", "q?x", "q#", "a/../b", "$x"]
)
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(InvalidProperty):
        validation.check_entity_path(name)


def test_subscription_and_rule_names() -> None:
    validation.check_child_name("x" * 50)
    validation.check_child_name("$Default", allow_default_rule=True)
    for bad in ("x" * 51, "a/b", "$Default", ""):
        with pytest.raises(InvalidProperty):
            validation.check_child_name(bad)


def test_parse_checks_the_name_from_the_path() -> None:
    with pytest.raises(BadRequest, match="for the Name property is invalid"):
        parse.parse_queue("bad name", _queue_body())
    body = render.render_entry(render.subscription_entry(SubscriptionProperties("t", "s"), MessageCounts(), BASE_URL))
    with pytest.raises(BadRequest, match="Name"):
        parse.parse_subscription("t", "a/b", body)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (RuleProperties("t", "s", "r", SqlFilter("  ")), "SqlFilter.SqlExpression"),
        (RuleProperties("t", "s", "r", SqlFilter("a = 1" + " " * 1024)), "SqlFilter.SqlExpression"),
        (RuleProperties("t", "s", "r", CorrelationFilter()), "CorrelationFilter"),
        (RuleProperties("t", "s", "r", SqlFilter("a = @p", {"@p": [1]})), "SqlFilter.Parameters[@p]"),
        (RuleProperties("t", "s", "r", SqlFilter("a = @p", {"": 1})), "SqlFilter.Parameters"),
        (RuleProperties("t", "s", "r/x"), "Name"),
    ],
)
def test_rules_the_service_refuses(rule: RuleProperties, field: str) -> None:
    with pytest.raises(InvalidProperty) as caught:
        validation.check_rule(rule)
    assert caught.value.field == field


def _rule_body(filter_xml: str) -> bytes:
    return (
        '<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
        '<RuleDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" '
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        f"{filter_xml}</RuleDescription></content></entry>"
    ).encode()


@pytest.mark.parametrize(
    ("filter_xml", "message"),
    [
        ('<Filter i:type="MagicFilter"/>', "filter type 'MagicFilter' is not supported"),
        ("<Filter/>", "needs an i:type attribute"),
        ('<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression></Filter><Action i:type="Nope"/>', "'Nope'"),
        (
            '<Filter i:type="SqlFilter"><SqlExpression>a = @p</SqlExpression><Parameters><KeyValueOfstringanyType>'
            '<Key>@p</Key><Value i:type="d6p1:int" xmlns:d6p1="http://www.w3.org/2001/XMLSchema">x</Value>'
            "</KeyValueOfstringanyType></Parameters></Filter>",
            "Parameters[@p]",
        ),
        (
            '<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression><Parameters><KeyValueOfstringanyType>'
            "<Key>@p</Key></KeyValueOfstringanyType></Parameters></Filter>",
            "needs a Key and a Value",
        ),
    ],
)
def test_bad_rule_bodies(filter_xml: str, message: str) -> None:
    with pytest.raises(BadRequest, match="SubCode=40000") as caught:
        parse.parse_rule("t", "s", "r", _rule_body(filter_xml))
    assert message in caught.value.message


def test_a_rule_without_a_filter_matches_everything() -> None:
    rule = parse.parse_rule("t", "s", "r", _rule_body(""))
    assert rule == RuleProperties("t", "s", "r", created_at=rule.created_at)


def test_merge_update_keeps_creation_time_and_refuses_fixed_properties() -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    existing = QueueProperties("q", created_at=created, accessed_at=created, updated_at=created)
    now = datetime(2024, 2, 1, tzinfo=UTC)
    merged = parse.merge_update(existing, QueueProperties("q", max_delivery_count=3), now)
    assert (merged.max_delivery_count, merged.created_at, merged.accessed_at, merged.updated_at) == (
        3,
        created,
        created,
        now,
    )
    for changed in (
        QueueProperties("q", requires_session=True),
        QueueProperties("q", requires_duplicate_detection=True),
        QueueProperties("q", enable_partitioning=True),
    ):
        with pytest.raises(BadRequest, match="of an existing Queue cannot be changed"):
            parse.merge_update(existing, changed)
    with pytest.raises(BadRequest, match="cannot change a Queue into a Topic"):
        parse.merge_update(existing, TopicProperties("q"))  # type: ignore[type-var]
    rule = RuleProperties("t", "s", "r", created_at=created)
    assert parse.merge_update(rule, RuleProperties("t", "s", "r", SqlFilter("a = 1"))).created_at == created


def test_render_error_is_what_the_sdks_read() -> None:
    body = render_error(
        404, "Entity 'ns:Topic:t|s' was not found.", tracking_id="abc", now=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert body == (
        b"<Error><Code>404</Code><Detail>Entity 'ns:Topic:t|s' was not found. TrackingId:abc, "
        b"SystemTracker:NoSystemTracker, Timestamp:2024-01-01T00:00:00</Detail></Error>"
    )
    assert b"&lt;x&gt;" in render_error(400, "<x>")
