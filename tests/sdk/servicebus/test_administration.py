"""``ServiceBusAdministrationClient`` (ATOM over HTTPS on the AMQP port): create, get, list with
paging, update and delete of queues, topics, subscriptions and rules; runtime properties; the
errors the SDK maps to exceptions (rest.py, management/)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.management import (
    CorrelationRuleFilter,
    EntityStatus,
    ServiceBusAdministrationClient,
    SqlRuleAction,
    SqlRuleFilter,
    TrueRuleFilter,
)

from tests.sdk.servicebus.support import QueueFactory, TopicFactory, receive, unique


def test_the_connection_string_is_the_official_emulators(namespace: str, connection_string: str) -> None:
    assert connection_string == (
        f"Endpoint=sb://{namespace};SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
    )


def test_queue_create_get_update_delete(admin: ServiceBusAdministrationClient) -> None:
    name = unique("crud")
    created = admin.create_queue(
        name,
        lock_duration=timedelta(seconds=45),
        max_size_in_megabytes=2048,
        requires_session=True,
        default_message_time_to_live=timedelta(hours=2),
        dead_lettering_on_message_expiration=True,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(minutes=3),
        max_delivery_count=7,
        user_metadata="owned by tests",
        auto_delete_on_idle=timedelta(days=3),
        max_message_size_in_kilobytes=2048,
    )
    try:
        for queue in (created, admin.get_queue(name)):
            assert queue.name == name
            assert queue.lock_duration == timedelta(seconds=45)
            assert queue.max_size_in_megabytes == 2048
            assert queue.requires_session is True
            assert queue.default_message_time_to_live == timedelta(hours=2)
            assert queue.dead_lettering_on_message_expiration is True
            assert queue.requires_duplicate_detection is True
            assert queue.duplicate_detection_history_time_window == timedelta(minutes=3)
            assert queue.max_delivery_count == 7
            assert queue.user_metadata == "owned by tests"
            assert queue.auto_delete_on_idle == timedelta(days=3)
            assert queue.max_message_size_in_kilobytes == 2048
            assert queue.status == EntityStatus.ACTIVE

        queue = admin.get_queue(name)
        queue.max_delivery_count = 3
        queue.lock_duration = timedelta(seconds=30)
        queue.user_metadata = "changed"
        admin.update_queue(queue)
        admin.update_queue(admin.get_queue(name), default_message_time_to_live=timedelta(minutes=10))
        updated = admin.get_queue(name)
        assert (updated.max_delivery_count, updated.lock_duration, updated.user_metadata) == (
            3,
            timedelta(seconds=30),
            "changed",
        )
        assert updated.default_message_time_to_live == timedelta(minutes=10)
        assert updated.requires_session is True  # untouched

        runtime = admin.get_queue_runtime_properties(name)
        assert runtime.name == name
        assert runtime.created_at_utc <= runtime.updated_at_utc
        assert abs(runtime.created_at_utc - datetime.now(UTC)) < timedelta(minutes=1)
    finally:
        admin.delete_queue(name)
    with pytest.raises(ResourceNotFoundError):
        admin.get_queue(name)


def test_queue_defaults(admin: ServiceBusAdministrationClient, new_queue: QueueFactory) -> None:
    queue = new_queue()
    assert queue.lock_duration == timedelta(minutes=1)
    assert queue.max_delivery_count == 10
    assert queue.requires_session is False
    assert queue.requires_duplicate_detection is False
    assert queue.dead_lettering_on_message_expiration is False
    assert queue.max_size_in_megabytes == 1024
    assert queue.forward_to is None
    assert queue.status == EntityStatus.ACTIVE


def test_entity_errors(admin: ServiceBusAdministrationClient, new_queue: QueueFactory, new_topic: TopicFactory) -> None:
    queue = new_queue().name
    topic = new_topic().name
    with pytest.raises(ResourceExistsError):
        admin.create_queue(queue)
    with pytest.raises(ResourceExistsError):
        admin.create_topic(topic)
    with pytest.raises(ResourceExistsError):
        admin.create_queue(topic)  # queues and topics share one namespace of names
    missing = unique("missing")
    for call in (
        lambda: admin.get_queue(missing),
        lambda: admin.get_queue_runtime_properties(missing),
        lambda: admin.delete_queue(missing),
        lambda: admin.get_topic(missing),
        lambda: admin.delete_topic(missing),
        lambda: admin.get_subscription(topic, missing),
        lambda: admin.delete_subscription(topic, missing),
        lambda: admin.get_subscription(missing, "sub"),
        lambda: admin.get_rule(topic, missing, "$Default"),
    ):
        with pytest.raises(ResourceNotFoundError):
            call()
    admin.create_subscription(topic, "sub")
    with pytest.raises(ResourceExistsError):
        admin.create_subscription(topic, "sub")
    with pytest.raises(ResourceExistsError):
        admin.create_rule(topic, "sub", "$Default")
    with pytest.raises(ResourceNotFoundError):
        admin.get_rule(topic, "sub", missing)
    with pytest.raises(ResourceNotFoundError):
        admin.delete_rule(topic, "sub", missing)


def test_invalid_properties_are_refused(admin: ServiceBusAdministrationClient) -> None:
    for options in (
        {"lock_duration": timedelta(seconds=1)},  # at least 5 s
        {"lock_duration": timedelta(minutes=6)},  # at most 5 min
        {"max_delivery_count": 0},
        {"duplicate_detection_history_time_window": timedelta(seconds=1), "requires_duplicate_detection": True},
    ):
        name = unique("bad")
        with pytest.raises(HttpResponseError) as refused:
            admin.create_queue(name, **options)
        assert refused.value.status_code == 400, options
        with pytest.raises(ResourceNotFoundError):
            admin.get_queue(name)


@pytest.fixture
def many_queues(admin: ServiceBusAdministrationClient) -> Iterator[list[str]]:
    names = [unique("page") for _ in range(5)]
    for name in names:
        admin.create_queue(name)
    yield names
    for name in names:
        with contextlib.suppress(ResourceNotFoundError):
            admin.delete_queue(name)


def test_list_queues_pages(admin: ServiceBusAdministrationClient, many_queues: list[str]) -> None:
    everything = [q.name for q in admin.list_queues()]
    assert set(many_queues) <= set(everything)
    pages = [[q.name for q in page] for page in admin.list_queues(max_page_size=2).by_page()]
    assert all(len(page) == 2 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert [name for page in pages for name in page] == everything
    runtime = {q.name: q for q in admin.list_queues_runtime_properties(max_page_size=3)}
    assert set(runtime) == set(everything)
    assert runtime[many_queues[0]].active_message_count == 0


def test_topic_and_subscription_lifecycle(admin: ServiceBusAdministrationClient) -> None:
    topic = unique("topic")
    created = admin.create_topic(
        topic,
        default_message_time_to_live=timedelta(hours=1),
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(minutes=2),
        max_size_in_megabytes=2048,
        user_metadata="topic metadata",
    )
    try:
        for props in (created, admin.get_topic(topic)):
            assert props.name == topic
            assert props.default_message_time_to_live == timedelta(hours=1)
            assert props.requires_duplicate_detection is True
            assert props.duplicate_detection_history_time_window == timedelta(minutes=2)
            assert props.max_size_in_megabytes == 2048
            assert props.user_metadata == "topic metadata"
        admin.update_topic(admin.get_topic(topic), default_message_time_to_live=timedelta(minutes=30))
        assert admin.get_topic(topic).default_message_time_to_live == timedelta(minutes=30)
        assert topic in [t.name for t in admin.list_topics(max_page_size=1)]

        sub = admin.create_subscription(
            topic,
            "audit",
            lock_duration=timedelta(seconds=20),
            max_delivery_count=4,
            requires_session=False,
            dead_lettering_on_message_expiration=True,
            dead_lettering_on_filter_evaluation_exceptions=False,
            default_message_time_to_live=timedelta(minutes=15),
            user_metadata="sub metadata",
        )
        for props in (sub, admin.get_subscription(topic, "audit")):
            assert props.name == "audit"
            assert props.lock_duration == timedelta(seconds=20)
            assert props.max_delivery_count == 4
            assert props.dead_lettering_on_message_expiration is True
            assert props.dead_lettering_on_filter_evaluation_exceptions is False
            assert props.default_message_time_to_live == timedelta(minutes=15)
            assert props.user_metadata == "sub metadata"
        admin.update_subscription(topic, admin.get_subscription(topic, "audit"), max_delivery_count=9)
        assert admin.get_subscription(topic, "audit").max_delivery_count == 9

        for name in ("b", "c", "d"):
            admin.create_subscription(topic, name)
        pages = [[s.name for s in page] for page in admin.list_subscriptions(topic, max_page_size=3).by_page()]
        assert [len(p) for p in pages] == [3, 1]
        assert sorted(n for p in pages for n in p) == ["audit", "b", "c", "d"]
        assert admin.get_topic_runtime_properties(topic).subscription_count == 4
        runtime = {s.name: s for s in admin.list_subscriptions_runtime_properties(topic)}
        assert set(runtime) == {"audit", "b", "c", "d"}

        admin.delete_subscription(topic, "b")
        assert sorted(s.name for s in admin.list_subscriptions(topic)) == ["audit", "c", "d"]
    finally:
        admin.delete_topic(topic)
    with pytest.raises(ResourceNotFoundError):
        admin.get_topic(topic)
    with pytest.raises(ResourceNotFoundError):
        admin.get_subscription(topic, "audit")


def test_rule_lifecycle(admin: ServiceBusAdministrationClient, new_topic: TopicFactory) -> None:
    topic = new_topic().name
    admin.create_subscription(topic, "sub")
    [default] = list(admin.list_rules(topic, "sub"))
    assert default.name == "$Default"
    assert isinstance(default.filter, TrueRuleFilter)

    sql = admin.create_rule(
        topic,
        "sub",
        "sql",
        filter=SqlRuleFilter("amount > @limit AND region = 'eu'", parameters={"@limit": 100}),
        action=SqlRuleAction("SET flagged = true"),
    )
    correlation = admin.create_rule(
        topic,
        "sub",
        "corr",
        filter=CorrelationRuleFilter(
            correlation_id="c",
            message_id="m",
            to="t",
            reply_to="r",
            label="l",
            session_id="s",
            reply_to_session_id="rs",
            content_type="ct",
            properties={"tenant": "contoso", "n": 5},
        ),
    )
    assert sql.name == "sql" and correlation.name == "corr"

    got = admin.get_rule(topic, "sub", "sql")
    assert isinstance(got.filter, SqlRuleFilter)
    assert got.filter.sql_expression == "amount > @limit AND region = 'eu'"
    assert got.filter.parameters == {"@limit": 100}
    assert isinstance(got.action, SqlRuleAction)
    assert got.action.sql_expression == "SET flagged = true"

    got = admin.get_rule(topic, "sub", "corr")
    assert isinstance(got.filter, CorrelationRuleFilter)
    assert (got.filter.correlation_id, got.filter.message_id, got.filter.to, got.filter.reply_to) == (
        "c",
        "m",
        "t",
        "r",
    )
    assert (got.filter.label, got.filter.session_id, got.filter.reply_to_session_id) == ("l", "s", "rs")
    assert got.filter.content_type == "ct"
    assert got.filter.properties == {"tenant": "contoso", "n": 5}
    assert got.action is None

    rule = admin.get_rule(topic, "sub", "sql")
    rule.filter = SqlRuleFilter("amount > 1000")
    rule.action = None
    admin.update_rule(topic, "sub", rule)
    updated = admin.get_rule(topic, "sub", "sql")
    assert updated.filter.sql_expression == "amount > 1000"
    assert updated.action is None

    pages = [[r.name for r in page] for page in admin.list_rules(topic, "sub", max_page_size=2).by_page()]
    assert sorted(n for p in pages for n in p) == ["$Default", "corr", "sql"]
    assert [len(p) for p in pages] == [2, 1]
    admin.delete_rule(topic, "sub", "$Default")
    assert sorted(r.name for r in admin.list_rules(topic, "sub")) == ["corr", "sql"]


def test_runtime_counts(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    queue = new_queue().name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(4)])
        sender.schedule_messages(ServiceBusMessage("later"), datetime.now(UTC) + timedelta(hours=1))
    with client.get_queue_receiver(queue) as receiver:
        [first] = receive(receiver, 1)
        receiver.dead_letter_message(first)
    runtime = admin.get_queue_runtime_properties(queue)
    assert runtime.active_message_count == 3
    assert runtime.dead_letter_message_count == 1
    assert runtime.scheduled_message_count == 1
    assert runtime.total_message_count == 5
    assert runtime.transfer_message_count == 0
    assert runtime.size_in_bytes > 0


def test_namespace_properties(admin: ServiceBusAdministrationClient) -> None:
    namespace = admin.get_namespace_properties()
    assert namespace.name
    assert namespace.created_at_utc is not None
