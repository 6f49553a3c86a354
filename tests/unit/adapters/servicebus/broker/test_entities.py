"""Entity management: queues, topics, subscriptions and rules; names, conflicts, runtime figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.servicebus.broker import (
    Broker,
    InvalidEntityDefinition,
    MessagingEntityAlreadyExists,
    MessagingEntityNotFound,
)
from adapters.servicebus.entities import (
    DEFAULT_RULE,
    CorrelationFilter,
    EntityStatus,
    FalseFilter,
    NamespaceConfig,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SubscriptionProperties,
    TopicProperties,
    TrueFilter,
)
from tests.unit.adapters.servicebus.broker.support import Clock, message


async def test_queue_create_get_update_list_delete(broker: Broker, clock: Clock) -> None:
    created = await broker.create_queue(QueueProperties("Orders", max_delivery_count=5))
    assert created.name == "Orders"
    assert created.created_at.timestamp() == clock.now
    assert broker.get_queue("orders").max_delivery_count == 5  # names are case-insensitive
    clock.advance(10)
    updated = await broker.update_queue(QueueProperties("ORDERS", max_delivery_count=7))
    assert updated.name == "Orders"  # the created casing is kept
    assert updated.max_delivery_count == 7
    assert updated.created_at.timestamp() == clock.now - 10
    assert updated.updated_at.timestamp() == clock.now
    await broker.create_queue(QueueProperties("alpha"))
    assert [q.name for q in broker.list_queues()] == ["alpha", "Orders"]
    await broker.delete_queue("oRdErS")
    with pytest.raises(MessagingEntityNotFound):
        broker.get_queue("orders")
    with pytest.raises(MessagingEntityNotFound):
        await broker.delete_queue("orders")


async def test_returned_properties_are_copies(broker: Broker) -> None:
    props = await broker.create_queue(QueueProperties("q"))
    props.max_delivery_count = 99
    assert broker.get_queue("q").max_delivery_count == 10


async def test_queue_and_topic_share_one_namespace_of_names(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("shared"))
    with pytest.raises(MessagingEntityAlreadyExists):
        await broker.create_queue(QueueProperties("SHARED"))
    with pytest.raises(MessagingEntityAlreadyExists):
        await broker.create_topic(TopicProperties("Shared"))


async def test_update_of_a_missing_entity_fails(broker: Broker) -> None:
    with pytest.raises(MessagingEntityNotFound):
        await broker.update_queue(QueueProperties("nope"))
    with pytest.raises(MessagingEntityNotFound):
        await broker.update_topic(TopicProperties("nope"))


async def test_requires_session_cannot_change(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q"))
    with pytest.raises(InvalidEntityDefinition):
        await broker.update_queue(QueueProperties("q", requires_session=True))


async def test_forwarding_target_must_exist_and_not_be_itself(broker: Broker) -> None:
    with pytest.raises(InvalidEntityDefinition):
        await broker.create_queue(QueueProperties("src", forward_to="missing"))
    with pytest.raises(InvalidEntityDefinition):
        await broker.create_queue(QueueProperties("src", forward_dead_lettered_messages_to="src"))
    await broker.create_queue(QueueProperties("dst"))
    await broker.create_queue(QueueProperties("src", forward_to="DST"))
    await broker.create_topic(TopicProperties("t"))
    with pytest.raises(InvalidEntityDefinition):
        await broker.create_subscription(SubscriptionProperties("t", "s", forward_to="missing"))


async def test_subscription_gets_a_default_true_rule(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("Events"))
    sub = await broker.create_subscription(SubscriptionProperties("events", "Audit"))
    assert sub.topic_name == "Events"
    [rule] = broker.list_rules("EVENTS", "audit")
    assert rule.name == DEFAULT_RULE
    assert isinstance(rule.filter, TrueFilter)
    assert (rule.topic_name, rule.subscription_name) == ("Events", "Audit")


async def test_subscription_created_with_a_rule_has_only_that_rule(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    rule = RuleProperties("t", "s", "onlyfalse", FalseFilter())
    await broker.create_subscription(SubscriptionProperties("t", "s"), rule)
    assert [r.name for r in broker.list_rules("t", "s")] == ["onlyfalse"]


async def test_subscription_conflicts_and_missing_parents(broker: Broker) -> None:
    with pytest.raises(MessagingEntityNotFound):
        await broker.create_subscription(SubscriptionProperties("none", "s"))
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    with pytest.raises(MessagingEntityAlreadyExists):
        await broker.create_subscription(SubscriptionProperties("T", "S"))
    with pytest.raises(MessagingEntityNotFound):
        broker.get_subscription("t", "other")


async def test_subscription_update_list_delete(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "b"))
    await broker.create_subscription(SubscriptionProperties("t", "a"))
    updated = await broker.update_subscription(SubscriptionProperties("T", "B", max_delivery_count=2))
    assert (updated.topic_name, updated.name, updated.max_delivery_count) == ("t", "b", 2)
    assert [s.name for s in broker.list_subscriptions("t")] == ["a", "b"]
    await broker.delete_subscription("t", "a")
    assert [s.name for s in broker.list_subscriptions("t")] == ["b"]
    assert broker.topic_runtime("t").subscription_count == 1
    with pytest.raises(InvalidEntityDefinition):
        await broker.update_subscription(SubscriptionProperties("t", "b", requires_session=True))


async def test_rule_crud(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    created = await broker.create_rule(RuleProperties("t", "s", "Red", CorrelationFilter(subject="red")))
    assert created.name == "Red"
    with pytest.raises(MessagingEntityAlreadyExists):
        await broker.create_rule(RuleProperties("t", "s", "red", TrueFilter()))
    updated = await broker.update_rule(RuleProperties("t", "s", "RED", CorrelationFilter(subject="blue")))
    assert updated.name == "Red"
    assert broker.get_rule("t", "s", "red").filter == CorrelationFilter(subject="blue")
    await broker.delete_rule("t", "s", "red")
    assert [r.name for r in broker.list_rules("t", "s")] == [DEFAULT_RULE]
    with pytest.raises(MessagingEntityNotFound):
        await broker.delete_rule("t", "s", "red")
    with pytest.raises(MessagingEntityNotFound):
        await broker.create_rule(RuleProperties("t", "missing", "r"))


async def test_a_rule_the_engine_refuses_changes_nothing(broker: Broker) -> None:
    from adapters.servicebus.filters import RuleSyntaxError

    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    with pytest.raises(RuleSyntaxError):
        await broker.create_rule(RuleProperties("t", "s", "bad", SqlFilter("color = = 1")))
    assert [r.name for r in broker.list_rules("t", "s")] == [DEFAULT_RULE]
    with pytest.raises(RuleSyntaxError):
        await broker.create_subscription(
            SubscriptionProperties("t", "s2"), RuleProperties("t", "s2", "bad", SqlFilter("(("))
        )
    assert [s.name for s in broker.list_subscriptions("t")] == ["s"]


async def test_topic_create_get_update_list(broker: Broker, clock: Clock) -> None:
    await broker.create_topic(TopicProperties("Events", requires_duplicate_detection=True))
    await broker.create_topic(TopicProperties("alerts"))
    assert broker.get_topic("EVENTS").requires_duplicate_detection
    clock.advance(1)
    updated = await broker.update_topic(TopicProperties("events", max_size_in_megabytes=2048))
    assert (updated.name, updated.max_size_in_megabytes) == ("Events", 2048)
    assert updated.updated_at.timestamp() == clock.now
    assert [t.name for t in broker.list_topics()] == ["alerts", "Events"]
    with pytest.raises(MessagingEntityAlreadyExists):
        await broker.create_topic(TopicProperties("ALERTS"))
    with pytest.raises(MessagingEntityNotFound):
        broker.get_topic("missing")


async def test_delete_topic_removes_its_subscriptions(broker: Broker) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "s"))
    await broker.delete_topic("t")
    with pytest.raises(MessagingEntityNotFound):
        broker.get_subscription("t", "s")
    await broker.create_topic(TopicProperties("t"))
    assert broker.list_subscriptions("t") == []


async def test_runtime_properties_count_each_state(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    await broker.send("q", [message("a"), message("bb"), message("ccc"), message("d")])
    await broker.schedule("q", [message("later")], clock.now + 60)
    receiver = broker.receiver("q")
    first, second, _third = await receiver.receive(3)
    receiver.defer(first.lock_token)  # type: ignore[arg-type]
    receiver.dead_letter(second.lock_token)  # type: ignore[arg-type]
    runtime = broker.queue_runtime("q")
    assert runtime.name == "q"
    # active counts locked and deferred messages too
    assert (runtime.active_message_count, runtime.dead_letter_message_count) == (3, 1)
    assert (runtime.scheduled_message_count, runtime.total_message_count) == (1, 5)
    assert (runtime.transfer_message_count, runtime.transfer_dead_letter_message_count) == (0, 0)
    assert runtime.size_in_bytes == len("a") + len("bb") + len("ccc") + len("d") + len("later")


async def test_topic_runtime_counts_scheduled_and_subscription_sizes(broker: Broker, clock: Clock) -> None:
    await broker.create_topic(TopicProperties("t"))
    await broker.create_subscription(SubscriptionProperties("t", "a"))
    await broker.create_subscription(SubscriptionProperties("t", "b"))
    await broker.send("t", [message("12345")])
    await broker.schedule("t", [message("xy")], clock.now + 60)
    runtime = broker.topic_runtime("t")
    assert (runtime.subscription_count, runtime.scheduled_message_count) == (2, 1)
    assert runtime.size_in_bytes == 5 + 5 + 2
    sub = broker.subscription_runtime("t", "a")
    assert (sub.active_message_count, sub.total_message_count) == (1, 1)


async def test_accessed_at_moves_on_send_and_receive(broker: Broker, clock: Clock) -> None:
    await broker.create_queue(QueueProperties("q"))
    clock.advance(5)
    await broker.send("q", [message()])
    assert broker.get_queue("q").accessed_at.timestamp() == clock.now
    clock.advance(5)
    await broker.receiver("q").receive(1, timeout=0)
    assert broker.queue_runtime("q").accessed_at.timestamp() == clock.now


async def test_apply_config_creates_what_is_missing(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("existing", max_delivery_count=2))
    config = NamespaceConfig(
        name="sbemulatorns",
        queues=[
            QueueProperties("existing", max_delivery_count=9),
            QueueProperties("fwd", forward_to="later"),  # defined after: not checked
            QueueProperties("later", lock_duration=timedelta(seconds=5)),
        ],
        topics=[TopicProperties("t")],
        subscriptions=[SubscriptionProperties("t", "plain"), SubscriptionProperties("t", "filtered")],
        rules=[RuleProperties("t", "filtered", "onlyred", CorrelationFilter(subject="red"))],
    )
    await broker.apply_config(config)
    await broker.apply_config(config)  # idempotent
    assert broker.get_queue("existing").max_delivery_count == 2
    assert broker.get_queue("fwd").forward_to == "later"
    assert [r.name for r in broker.list_rules("t", "plain")] == [DEFAULT_RULE]
    assert [r.name for r in broker.list_rules("t", "filtered")] == ["onlyred"]


async def test_status_is_stored(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q", status=EntityStatus.SEND_DISABLED))
    assert broker.get_queue("q").status is EntityStatus.SEND_DISABLED
