"""Scheduling, cancelling and peeking over the ``$management`` node (links/management.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageState
from azure.servicebus.exceptions import MessageNotFoundError
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.sdk.servicebus.support import QueueFactory, TopicFactory, receive
from tests.support import wait_for


def test_schedule_and_cancel(client: ServiceBusClient, admin: ServiceBusAdministrationClient, queue: str) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=3)  # time enough for the checks below before it is due
    later = datetime.now(UTC) + timedelta(hours=1)
    with client.get_queue_sender(queue) as sender:
        [first, second] = sender.schedule_messages(
            [ServiceBusMessage("soon", message_id="soon"), ServiceBusMessage("cancelled")], soon
        )
        [third] = sender.schedule_messages(ServiceBusMessage("much later"), later)
        assert first < second < third
        runtime = admin.get_queue_runtime_properties(queue)
        assert (runtime.scheduled_message_count, runtime.active_message_count) == (3, 0)
        sender.cancel_scheduled_messages([second, third])
    assert admin.get_queue_runtime_properties(queue).scheduled_message_count == 1

    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert datetime.now(UTC) >= soon  # not delivered before its time
        assert (str(message), message.sequence_number) == ("soon", first)
        assert message.scheduled_enqueue_time_utc == soon.replace(microsecond=soon.microsecond // 1000 * 1000)
        assert message.enqueued_time_utc >= message.scheduled_enqueue_time_utc - timedelta(milliseconds=1)
        receiver.complete_message(message)
    runtime = admin.get_queue_runtime_properties(queue)
    assert (runtime.scheduled_message_count, runtime.active_message_count) == (0, 0)


def test_cancel_unknown_sequence_number(connection_string: str, queue: str) -> None:
    with (
        ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client,
        client.get_queue_sender(queue) as sender,
        pytest.raises(MessageNotFoundError),
    ):
        sender.cancel_scheduled_messages(12345)


def test_schedule_on_a_topic_fans_out_when_due(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_topic: TopicFactory
) -> None:
    topic = new_topic().name
    admin.create_subscription(topic, "s1")
    admin.create_subscription(topic, "s2")
    with client.get_topic_sender(topic) as sender:
        sender.schedule_messages(ServiceBusMessage("to all"), datetime.now(UTC) + timedelta(seconds=1))
    assert admin.get_topic_runtime_properties(topic).scheduled_message_count == 1
    for subscription in ("s1", "s2"):
        with client.get_subscription_receiver(topic, subscription) as receiver:
            [message] = receive(receiver, 1)
            assert str(message) == "to all"
            receiver.complete_message(message)


def test_peek_sees_every_state_without_locking(
    client: ServiceBusClient, admin: ServiceBusAdministrationClient, new_queue: QueueFactory
) -> None:
    queue = new_queue().name
    with client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(5)])
        [scheduled] = sender.schedule_messages(ServiceBusMessage("scheduled"), datetime.now(UTC) + timedelta(hours=1))
    with client.get_queue_receiver(queue) as receiver, client.get_queue_receiver(queue) as browser:
        [m0, m1] = receive(receiver, 2)
        receiver.defer_message(m1)  # m0 stays locked, m1 deferred

        # (A receiver that has received peeks after what it received: the browser has not.)
        peeked = browser.peek_messages(max_message_count=10)
        assert [str(m) for m in peeked] == ["m0", "m1", "m2", "m3", "m4", "scheduled"]
        states = [m.state for m in peeked]
        assert states == [ServiceBusMessageState.ACTIVE, ServiceBusMessageState.DEFERRED] + [
            ServiceBusMessageState.ACTIVE
        ] * 3 + [ServiceBusMessageState.SCHEDULED]
        assert peeked[-1].sequence_number == scheduled
        assert all(m.lock_token is None for m in peeked)
        # A peek is no delivery: the count stays as the receive left it.
        assert [m.delivery_count for m in peeked[:3]] == [1, 1, 0]

        # From a sequence number; then onwards from the last peeked one.
        from_third = browser.peek_messages(max_message_count=2, sequence_number=peeked[2].sequence_number)
        assert [str(m) for m in from_third] == ["m2", "m3"]
        following = browser.peek_messages(max_message_count=10)
        assert [str(m) for m in following] == ["m4", "scheduled"]
        assert browser.peek_messages(max_message_count=10) == []

        # The peeked messages are still there to receive, in order.
        rest = receive(receiver, 3)
        assert [str(m) for m in rest] == ["m2", "m3", "m4"]
        for message in [m0, *rest]:
            receiver.complete_message(message)
    wait_for(lambda: admin.get_queue_runtime_properties(queue).active_message_count == 1)  # the deferred m1
