"""ServiceBusAdministrationClient (sync and aio) against what we render, through its own deserializers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.servicebus.aio.management import ServiceBusAdministrationClient as AsyncAdministrationClient
from azure.servicebus.management import (
    CorrelationRuleFilter,
    FalseRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleAction,
    SqlRuleFilter,
    TrueRuleFilter,
)

from adapters.servicebus.entities import MAX_TIMESPAN, EntityStatus
from adapters.servicebus.management.render import MessageCounts
from tests.unit.adapters.servicebus.management.sdk_transport import (
    CONNECTION_STRING,
    AsyncServiceTransport,
    FakeManagementService,
    ServiceTransport,
)

CREATED = datetime(2024, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)


def test_queue_lifecycle(client: ServiceBusAdministrationClient, service: FakeManagementService) -> None:
    created = client.create_queue("orders", lock_duration=timedelta(seconds=30), max_delivery_count=3)
    assert (created.name, created.lock_duration, created.max_delivery_count) == ("orders", timedelta(seconds=30), 3)
    assert created.default_message_time_to_live == MAX_TIMESPAN
    assert created.status == "Active"
    assert created.availability_status == "Available"

    created.max_delivery_count = 7
    created.status = "SendDisabled"
    client.update_queue(created)
    stored = service.queues["orders"]
    assert (stored.max_delivery_count, stored.status) == (7, EntityStatus.SEND_DISABLED)
    # The SDK sent TimeSpan.MaxValue back slightly short; it is still "never".
    assert stored.default_message_time_to_live == MAX_TIMESPAN

    fetched = client.get_queue("orders")
    assert (fetched.max_delivery_count, fetched.status) == (7, "SendDisabled")
    client.delete_queue("orders")
    assert "orders" not in service.queues
    with pytest.raises(ResourceNotFoundError):
        client.get_queue("orders")


def test_forwarding_is_stored_as_a_name_and_answered_as_an_address(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_queue("sink")
    queue = client.create_queue("source", forward_to="sink", forward_dead_lettered_messages_to="sink")
    assert service.queues["source"].forward_to == "sink"
    assert queue.forward_to == "sb://sbemulatorns.localhost/sink"
    assert queue.forward_dead_lettered_messages_to == "sb://sbemulatorns.localhost/sink"


def test_queue_runtime_properties(client: ServiceBusAdministrationClient, service: FakeManagementService) -> None:
    client.create_queue("orders")
    service.queues["orders"].created_at = CREATED
    service.counts = MessageCounts(
        active=3, dead_letter=2, scheduled=1, transfer=4, transfer_dead_letter=5, size_in_bytes=1234
    )
    runtime = client.get_queue_runtime_properties("orders")
    assert runtime.active_message_count == 3
    assert runtime.dead_letter_message_count == 2
    assert runtime.scheduled_message_count == 1
    assert runtime.transfer_message_count == 4
    assert runtime.transfer_dead_letter_message_count == 5
    assert runtime.total_message_count == 15
    assert runtime.size_in_bytes == 1234
    assert runtime.created_at_utc == CREATED
    assert [r.name for r in client.list_queues_runtime_properties()] == ["orders"]


def test_topic_and_subscription_runtime_properties(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    client.create_topic("events")
    client.create_subscription("events", "a")
    client.create_subscription("events", "b")
    service.counts = MessageCounts(active=2, dead_letter=1, scheduled=6, size_in_bytes=10)
    topic = client.get_topic_runtime_properties("events")
    assert (topic.subscription_count, topic.scheduled_message_count, topic.size_in_bytes) == (2, 6, 10)
    subscription = client.get_subscription_runtime_properties("events", "a")
    assert (subscription.active_message_count, subscription.dead_letter_message_count) == (2, 1)
    assert subscription.total_message_count == 9


def test_topic_and_subscription_lifecycle(
    client: ServiceBusAdministrationClient, service: FakeManagementService
) -> None:
    topic = client.create_topic("events", default_message_time_to_live=timedelta(hours=1), support_ordering=False)
    assert (topic.default_message_time_to_live, topic.support_ordering) == (timedelta(hours=1), False)
    topic.requires_duplicate_detection = False
    topic.max_size_in_megabytes = 2048
    client.update_topic(topic)
    assert client.get_topic("events").max_size_in_megabytes == 2048

    subscription = client.create_subscription("events", "audit", max_delivery_count=2, lock_duration="PT45S")
    assert (subscription.max_delivery_count, subscription.lock_duration) == (2, timedelta(seconds=45))
    subscription.status = "ReceiveDisabled"
    client.update_subscription("events", subscription)
    assert client.get_subscription("events", "audit").status == "ReceiveDisabled"
    assert [s.name for s in client.list_subscriptions("events")] == ["audit"]
    # A new subscription starts with the $Default rule.
    assert [(r.name, type(r.filter)) for r in client.list_rules("events", "audit")] == [("$Default", TrueRuleFilter)]

    client.delete_subscription("events", "audit")
    with pytest.raises(ResourceNotFoundError, match="was not found"):
        client.get_subscription("events", "audit")
    client.delete_topic("events")
    with pytest.raises(ResourceNotFoundError):
        client.get_topic("events")


def test_rules_keep_their_filters_actions_and_typed_values(client: ServiceBusAdministrationClient) -> None:
    client.create_topic("t")
    client.create_subscription("t", "s")
    instant = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    parameters = {"@s": "x", "@i": 7, "@l": 2**40, "@f": 2.5, "@b": True, "@d": instant, "@t": timedelta(minutes=3)}
    sql = client.create_rule(
        "t", "s", "sql", filter=SqlRuleFilter("a = @i", parameters), action=SqlRuleAction("SET x = @v", {"@v": 1})
    )
    assert sql.filter.sql_expression == "a = @i"
    assert dict(sql.filter.parameters) == parameters
    assert sql.action.sql_expression == "SET x = @v"
    assert dict(sql.action.parameters) == {"@v": 1}

    correlation = CorrelationRuleFilter(
        correlation_id="c", message_id="m", to="t", reply_to="r", label="l", session_id="s",
        reply_to_session_id="rs", content_type="ct", properties={"tenant": "contoso", "n": 5},
    )  # fmt: skip
    client.create_rule("t", "s", "corr", filter=correlation)
    fetched = client.get_rule("t", "s", "corr")
    assert isinstance(fetched.filter, CorrelationRuleFilter)
    for name in ("correlation_id", "message_id", "to", "reply_to", "label", "session_id", "reply_to_session_id"):
        assert getattr(fetched.filter, name) == getattr(correlation, name)
    assert dict(fetched.filter.properties) == {"tenant": "contoso", "n": 5}
    assert fetched.action is None

    client.create_rule("t", "s", "never", filter=FalseRuleFilter())
    rules = {rule.name: rule for rule in client.list_rules("t", "s")}
    assert set(rules) == {"$Default", "sql", "corr", "never"}
    assert isinstance(rules["never"].filter, FalseRuleFilter)
    assert dict(rules["sql"].filter.parameters) == parameters

    fetched.filter = SqlRuleFilter("b = 2")
    client.update_rule("t", "s", fetched)
    assert client.get_rule("t", "s", "corr").filter.sql_expression == "b = 2"
    client.delete_rule("t", "s", "corr")
    with pytest.raises(ResourceNotFoundError):
        client.get_rule("t", "s", "corr")


def test_lists_follow_the_next_link(client: ServiceBusAdministrationClient) -> None:
    names = [f"q{index}" for index in range(5)]
    for name in names:
        client.create_queue(name)
    pages = [[queue.name for queue in page] for page in client.list_queues(max_page_size=2).by_page()]
    assert pages == [["q0", "q1"], ["q2", "q3"], ["q4"]]
    client.create_topic("t")
    assert [topic.name for topic in client.list_topics()] == ["t"]
    assert [topic.name for topic in client.list_topics_runtime_properties()] == ["t"]


def test_namespace_properties(client: ServiceBusAdministrationClient) -> None:
    properties = client.get_namespace_properties()
    assert (properties.name, properties.messaging_sku, properties.namespace_type) == (
        "sbemulatorns",
        "Standard",
        "Messaging",
    )
    assert properties.created_at_utc == datetime(2024, 1, 1, tzinfo=UTC)


def test_errors_become_the_sdk_s_exceptions(client: ServiceBusAdministrationClient) -> None:
    client.create_queue("orders")
    with pytest.raises(ResourceExistsError):
        client.create_queue("orders")
    deleted = client.create_queue("deleted")
    client.delete_queue("deleted")
    with pytest.raises(ResourceNotFoundError):
        client.update_queue(deleted)
    with pytest.raises(ResourceNotFoundError):
        client.get_topic("missing")
    with pytest.raises(ResourceNotFoundError):
        client.get_queue_runtime_properties("missing")
    with pytest.raises(ResourceNotFoundError):
        client.delete_queue("missing")
    with pytest.raises(HttpResponseError) as caught:
        client.create_queue("bad", lock_duration=timedelta(minutes=10))
    assert caught.value.status_code == 400
    assert "LockDuration" in caught.value.message
    assert "between PT5S and PT5M" in caught.value.message


def test_changing_requires_session_is_refused(client: ServiceBusAdministrationClient) -> None:
    queue = client.create_queue("orders")
    queue.requires_session = True
    with pytest.raises(HttpResponseError, match="RequiresSession") as caught:
        client.update_queue(queue)
    assert caught.value.status_code == 400


def test_a_wrong_key_is_401(service: FakeManagementService) -> None:
    wrong = CONNECTION_STRING.replace("SAS_KEY_VALUE", "not-the-key")
    with ServiceBusAdministrationClient.from_connection_string(
        wrong, transport=ServiceTransport(service), retry_total=0
    ) as client, pytest.raises(ClientAuthenticationError):  # fmt: skip
        client.get_queue("orders")


async def test_the_aio_client_reads_the_same_bodies() -> None:
    service = FakeManagementService()
    async with AsyncAdministrationClient.from_connection_string(
        CONNECTION_STRING, transport=AsyncServiceTransport(service), retry_total=0
    ) as client:
        queue = await client.create_queue("orders", lock_duration=timedelta(seconds=30))
        assert queue.lock_duration == timedelta(seconds=30)
        assert [q.name async for q in client.list_queues()] == ["orders"]
        await client.create_topic("t")
        await client.create_subscription("t", "s")
        rule = await client.create_rule("t", "s", "r", filter=SqlRuleFilter("a = @p", {"@p": 2}))
        assert dict(rule.filter.parameters) == {"@p": 2}
        assert [r.name async for r in client.list_rules("t", "s")] == ["$Default", "r"]
        with pytest.raises(ResourceNotFoundError):
            await client.get_queue("missing")
        with pytest.raises(ResourceNotFoundError):
            await client.get_subscription("t", "missing")
