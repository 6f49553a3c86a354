"""Topic fan-out through rules, and auto-forwarding (of messages and of dead-lettered ones)."""

from __future__ import annotations

import pytest

from adapters.servicebus.broker import Broker, InvalidOperation
from adapters.servicebus.broker.messages import DEAD_LETTER_DESCRIPTION, DEAD_LETTER_REASON
from adapters.servicebus.entities import (
    CorrelationFilter,
    FalseFilter,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionProperties,
    TopicProperties,
    TrueFilter,
)
from tests.unit.adapters.servicebus.broker.support import bodies, message


async def sub(broker: Broker, name: str, *rules: RuleProperties, **props: object) -> str:
    await broker.create_subscription(SubscriptionProperties("t", name, **props))  # type: ignore[arg-type]
    if rules:
        await broker.delete_rule("t", name, "$Default")
        for rule in rules:
            await broker.create_rule(rule)
    return f"t/Subscriptions/{name}"


@pytest.fixture
async def topic(broker: Broker) -> str:
    await broker.create_topic(TopicProperties("t"))
    return "t"


async def test_every_subscription_gets_a_copy(broker: Broker, topic: str) -> None:
    first = await sub(broker, "a")
    second = await sub(broker, "b")
    await broker.send(topic, [message("x", application_properties={"p": 1})])
    [a] = await broker.receiver(first).receive(1)
    [b] = await broker.receiver(second).receive(1)
    assert a is not b
    assert a.body == b.body == b"x"
    receiver = broker.receiver(first)
    receiver.complete(a.lock_token)  # type: ignore[arg-type]
    assert len(broker.receiver(second).peek(1, 5)) == 1  # settling one copy leaves the other


async def test_no_subscription_no_message(broker: Broker, topic: str) -> None:
    assert await broker.send(topic, [message()]) == [1]
    assert broker.topic_runtime(topic).size_in_bytes == 0


async def test_false_filter_and_no_rules_take_nothing(broker: Broker, topic: str) -> None:
    never = await sub(broker, "never", RuleProperties("t", "never", "f", FalseFilter()))
    await broker.create_subscription(SubscriptionProperties("t", "empty"))
    await broker.delete_rule("t", "empty", "$Default")
    await broker.send(topic, [message()])
    assert broker.receiver(never).peek(1, 5) == []
    assert broker.receiver("t/Subscriptions/empty").peek(1, 5) == []


async def test_rules_without_actions_make_one_copy(broker: Broker, topic: str, fake_rules: None) -> None:
    path = await sub(
        broker,
        "s",
        RuleProperties("t", "s", "red", SqlFilter("user.get('color') == 'red'")),
        RuleProperties("t", "s", "any", TrueFilter()),
    )
    await broker.send(topic, [message("r", application_properties={"color": "red"})])
    assert bodies(broker.receiver(path).peek(1, 5)) == ["r"]


async def test_each_matching_rule_with_an_action_makes_its_own_copy(
    broker: Broker, topic: str, fake_rules: None
) -> None:
    path = await sub(
        broker,
        "s",
        RuleProperties("t", "s", "plain", TrueFilter()),
        RuleProperties("t", "s", "tagA", TrueFilter(), SqlRuleAction("tag=a")),
        RuleProperties("t", "s", "tagB", SqlFilter("user['n'] > 5"), SqlRuleAction("tag=b")),
        RuleProperties("t", "s", "tagC", SqlFilter("user['n'] > 50"), SqlRuleAction("tag=c")),
    )
    await broker.send(topic, [message("m", application_properties={"n": 10})])
    copies = broker.receiver(path).peek(1, 10)
    assert [m.application_properties for m in copies] == [
        {"n": 10},
        {"n": 10, "tag": "a", "RuleName": "tagA"},
        {"n": 10, "tag": "b", "RuleName": "tagB"},
    ]
    assert [m.sequence_number for m in copies] == [1, 2, 3]  # a subscription numbers its own messages


async def test_filters_see_system_properties(broker: Broker, topic: str, fake_rules: None) -> None:
    path = await sub(broker, "s", RuleProperties("t", "s", "lbl", SqlFilter("sys.get('Label') == 'x'")))
    await broker.send(topic, [message("yes", subject="x"), message("no", subject="y"), message("none")])
    assert bodies(broker.receiver(path).peek(1, 5)) == ["yes"]


async def test_filter_failure_dead_letters_the_copy(broker: Broker, topic: str, fake_rules: None) -> None:
    path = await sub(broker, "s", RuleProperties("t", "s", "bad", SqlFilter("boom")))
    other = await sub(broker, "other")
    await broker.send(topic, [message("m")])
    assert broker.receiver(path).peek(1, 5) == []
    [dead] = broker.receiver(path + "/$DeadLetterQueue").peek(1, 5)
    assert dead.application_properties[DEAD_LETTER_REASON] == "FilterEvaluationExceptions"
    assert dead.application_properties[DEAD_LETTER_DESCRIPTION] == "the filter failed"
    assert bodies(broker.receiver(other).peek(1, 5)) == ["m"]  # other subscriptions are not affected


async def test_filter_failure_drops_the_copy_when_not_dead_lettering(
    broker: Broker, topic: str, fake_rules: None
) -> None:
    path = await sub(
        broker,
        "s",
        RuleProperties("t", "s", "bad", SqlFilter("boom")),
        dead_lettering_on_filter_evaluation_exceptions=False,
    )
    await broker.send(topic, [message("m")])
    assert broker.receiver(path).peek(1, 5) == []
    assert broker.receiver(path + "/$DeadLetterQueue").peek(1, 5) == []


async def test_with_the_real_rule_engine(broker: Broker, topic: str) -> None:
    path = await sub(
        broker,
        "s",
        RuleProperties("t", "s", "red", SqlFilter("color = 'red'"), SqlRuleAction("SET sys.Label = 'seen'")),
        RuleProperties("t", "s", "corr", CorrelationFilter(correlation_id="c1")),
    )
    await broker.send(
        topic,
        [
            message("red", application_properties={"color": "red"}),
            message("blue", application_properties={"color": "blue"}),
            message("correlated", correlation_id="c1"),
        ],
    )
    got = broker.receiver(path).peek(1, 10)
    assert bodies(got) == ["red", "correlated"]
    assert got[0].subject == "seen"
    assert got[0].application_properties["RuleName"] == "red"


async def test_session_subscription_dead_letters_a_message_without_session(broker: Broker, topic: str) -> None:
    path = await sub(broker, "s", requires_session=True)
    await broker.send(topic, [message("none"), message("some", session_id="x")])
    [dead] = broker.receiver(path + "/$DeadLetterQueue").peek(1, 5)
    assert dead.body == b"none"
    assert dead.application_properties[DEAD_LETTER_REASON] == "Session ID is null"
    session = await broker.accept_session(path, "x")
    assert bodies(await session.receive(5, timeout=0)) == ["some"]


async def test_queue_auto_forwarding(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("dst"))
    await broker.create_queue(QueueProperties("src", forward_to="dst"))
    await broker.send("dst", [message("direct")])
    await broker.send("src", [message("forwarded")])
    got = broker.receiver("dst").peek(1, 5)
    assert bodies(got) == ["direct", "forwarded"]
    assert got[1].sequence_number == 2  # numbered by the destination
    assert broker.queue_runtime("src").total_message_count == 0
    with pytest.raises(InvalidOperation):  # a forwarding entity cannot be received from
        broker.receiver("src")


async def test_subscription_forwards_to_a_queue(broker: Broker, topic: str) -> None:
    await broker.create_queue(QueueProperties("inbox"))
    await sub(broker, "s", forward_to="inbox")
    await broker.send(topic, [message("hello")])
    assert bodies(broker.receiver("inbox").peek(1, 5)) == ["hello"]


async def test_forwarding_stops_after_four_hops(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("q0"))
    for i in range(1, 6):
        await broker.create_queue(QueueProperties(f"q{i}", forward_to=f"q{i - 1}"))
    await broker.update_queue(QueueProperties("q0", forward_to="q5"))  # a cycle
    await broker.send("q5", [message("loop")])
    dead = [m for i in range(6) for m in broker.receiver(f"q{i}/$DeadLetterQueue").peek(1, 5)]
    [looped] = dead
    assert looped.application_properties[DEAD_LETTER_REASON] == "MaxTransferHopCountExceeded"
    assert broker.queue_runtime("q1").dead_letter_message_count == 1  # q5 -> q4 -> q3 -> q2 -> q1: 4 hops


async def test_dead_lettered_messages_are_forwarded_with_their_source(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("graveyard"))
    await broker.create_queue(QueueProperties("q", forward_dead_lettered_messages_to="graveyard"))
    await broker.send("q", [message("bad")])
    receiver = broker.receiver("q")
    [got] = await receiver.receive(1)
    receiver.dead_letter(got.lock_token, "Why", "because")  # type: ignore[arg-type]
    assert broker.queue_runtime("q").dead_letter_message_count == 0
    [moved] = broker.receiver("graveyard").peek(1, 5)
    assert moved.dead_letter_source == "q"
    assert moved.application_properties[DEAD_LETTER_REASON] == "Why"
    assert bodies(broker.receiver("q/$DeadLetterQueue").peek(1, 5)) == []


async def test_forwarding_to_a_deleted_target_keeps_the_message(broker: Broker) -> None:
    await broker.create_queue(QueueProperties("dst"))
    await broker.create_queue(QueueProperties("src", forward_to="dst"))
    await broker.delete_queue("dst")
    await broker.send("src", [message("kept")])
    assert broker.queue_runtime("src").active_message_count == 1
