"""Duplicate detection and auto-forwarding (broker/router.py), seen through the SDK."""

from __future__ import annotations

from datetime import timedelta

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.sdk.servicebus.support import QueueFactory, TopicFactory, receive


def _drain_queue(client: ServiceBusClient, queue: str, expected: int, **kwargs: object) -> list[str]:
    with client.get_queue_receiver(queue, **kwargs) as receiver:  # type: ignore[arg-type]
        received = receive(receiver, expected)
        for message in received:
            receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=0.5) == []
    return [str(m) for m in received]


def test_duplicate_detection_drops_a_repeated_message_id(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    queue = new_queue(
        requires_duplicate_detection=True, duplicate_detection_history_time_window=timedelta(minutes=1)
    ).name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("first", message_id="order-1"))
        sender.send_messages(ServiceBusMessage("retry of first", message_id="order-1"))  # acknowledged, dropped
        batch = sender.create_message_batch()
        for body, message_id in (("second", "order-2"), ("again", "order-1"), ("second again", "order-2")):
            batch.add_message(ServiceBusMessage(body, message_id=message_id))
        sender.send_messages(batch)
    assert admin.get_queue_runtime_properties(queue).active_message_count == 2
    assert _drain_queue(client, queue, 2) == ["first", "second"]
    # Still within the window after the original was consumed.
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("late retry", message_id="order-1"))
    assert admin.get_queue_runtime_properties(queue).active_message_count == 0


def test_without_duplicate_detection_the_same_id_is_kept(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    queue = new_queue().name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage("one", message_id="same"), ServiceBusMessage("two", message_id="same")])
    assert _drain_queue(client, queue, 2) == ["one", "two"]


def test_duplicate_detection_on_a_topic(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic(requires_duplicate_detection=True).name
    admin.create_subscription(topic, "sub")
    with client.get_topic_sender(topic) as sender:
        for body in ("once", "twice"):
            sender.send_messages(ServiceBusMessage(body, message_id="event-7"))
    assert admin.get_subscription_runtime_properties(topic, "sub").active_message_count == 1


def test_a_queue_forwards_to_another_queue(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    target = new_queue().name
    source = new_queue(forward_to=target).name
    assert admin.get_queue(source).forward_to.endswith(target)
    with client.get_queue_sender(source) as sender:
        sender.send_messages([ServiceBusMessage("hop", message_id="h1", application_properties={"k": "v"})])
    assert admin.get_queue_runtime_properties(source).active_message_count == 0
    with client.get_queue_receiver(target) as receiver:
        [message] = receive(receiver, 1)
        assert (str(message), message.message_id) == ("hop", "h1")
        assert message.application_properties[b"k"] == b"v"
        receiver.complete_message(message)


def test_a_subscription_forwards_to_a_queue(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory, new_topic: TopicFactory
) -> None:
    target = new_queue().name
    topic = new_topic().name
    admin.create_subscription(topic, "forwarding", forward_to=target)
    admin.create_subscription(topic, "kept")
    with client.get_topic_sender(topic) as sender:
        sender.send_messages([ServiceBusMessage("e1"), ServiceBusMessage("e2")])
    assert _drain_queue(client, target, 2) == ["e1", "e2"]
    assert admin.get_subscription_runtime_properties(topic, "forwarding").active_message_count == 0
    assert admin.get_subscription_runtime_properties(topic, "kept").active_message_count == 2


def test_dead_lettered_messages_are_forwarded_with_their_source(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    audit = new_queue().name
    source = new_queue(forward_dead_lettered_messages_to=audit).name
    with client.get_queue_sender(source) as sender:
        sender.send_messages(ServiceBusMessage("poison"))
    with client.get_queue_receiver(source) as receiver:
        [message] = receive(receiver, 1)
        receiver.dead_letter_message(message, reason="bad", error_description="cannot parse")
    assert admin.get_queue_runtime_properties(source).dead_letter_message_count == 0
    with client.get_queue_receiver(audit) as receiver:
        [forwarded] = receive(receiver, 1)
        assert str(forwarded) == "poison"
        assert forwarded.dead_letter_source == source
        assert (forwarded.dead_letter_reason, forwarded.dead_letter_error_description) == ("bad", "cannot parse")
        receiver.complete_message(forwarded)
    assert _drain_queue(client, source, 0, sub_queue=ServiceBusSubQueue.DEAD_LETTER) == []
