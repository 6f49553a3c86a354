"""The namespace's entities as the broker holds them: queues, topics, subscriptions and their rules.

Names are case-insensitive (as in Azure) and keep the casing they were created with, so
every lookup table is keyed by the lower-cased name.
"""

from __future__ import annotations

from adapters.servicebus.broker.context import BrokerContext
from adapters.servicebus.broker.errors import InvalidOperation, MessagingEntityNotFound
from adapters.servicebus.broker.paths import EntityPath, parse_path, subscription_path
from adapters.servicebus.broker.rules import Rule
from adapters.servicebus.broker.runtime import MessageCounters
from adapters.servicebus.broker.store import ACTIVE_TAG, DEAD_LETTER_TAG
from adapters.servicebus.broker.subqueue import SubQueue
from adapters.servicebus.entities import QueueProperties, SubscriptionProperties, TopicProperties


class DuplicateLog:
    """Message ids a queue or topic accepted within its duplicate detection window, oldest first."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, int]] = {}

    def get(self, message_id: str) -> int | None:
        """The sequence number the id was accepted with, if it is still in the window."""
        seen = self._seen.get(message_id)
        return None if seen is None else seen[1]

    def add(self, message_id: str, when: float, sequence_number: int) -> None:
        self._seen.pop(message_id, None)  # re-inserting keeps the dict in time order
        self._seen[message_id] = (when, sequence_number)

    def forget_before(self, cutoff: float) -> list[str]:
        """Drop (and return) the ids seen before ``cutoff``."""
        dropped: list[str] = []
        for message_id, (when, _) in self._seen.items():
            if when >= cutoff:
                break
            dropped.append(message_id)
        for message_id in dropped:
            del self._seen[message_id]
        return dropped


class QueueEntity:
    def __init__(self, ctx: BrokerContext, entity_id: int, properties: QueueProperties) -> None:
        self.id = entity_id
        self.properties = properties
        self.sequence = 0
        """The last sequence number given out."""
        self.duplicates = DuplicateLog()
        self.main = SubQueue(ctx, self, ACTIVE_TAG, dead_letter=False, sessions=properties.requires_session)
        self.dlq = SubQueue(ctx, self, DEAD_LETTER_TAG, dead_letter=True, sessions=False)

    @property
    def path(self) -> str:
        return self.properties.name

    @property
    def counters(self) -> MessageCounters:
        return self.main.counters

    def size_in_bytes(self) -> int:
        return self.main.size + self.dlq.size

    def close(self) -> None:
        gone = MessagingEntityNotFound(f"The messaging entity '{self.path}' was deleted.")
        self.main.close(gone)
        self.dlq.close(gone)


class SubscriptionEntity:
    def __init__(
        self, ctx: BrokerContext, entity_id: int, topic: TopicEntity, properties: SubscriptionProperties
    ) -> None:
        self.id = entity_id
        self.topic = topic
        self.properties = properties
        self.sequence = 0
        """Subscriptions number their messages themselves: one topic message may become several copies."""
        self.rules: dict[str, Rule] = {}
        self.main = SubQueue(ctx, self, ACTIVE_TAG, dead_letter=False, sessions=properties.requires_session)
        self.dlq = SubQueue(ctx, self, DEAD_LETTER_TAG, dead_letter=True, sessions=False)

    @property
    def path(self) -> str:
        return subscription_path(self.topic.path, self.properties.name)

    def size_in_bytes(self) -> int:
        return self.main.size + self.dlq.size

    def close(self) -> None:
        gone = MessagingEntityNotFound(f"The messaging entity '{self.path}' was deleted.")
        self.main.close(gone)
        self.dlq.close(gone)


class TopicEntity:
    def __init__(self, ctx: BrokerContext, entity_id: int, properties: TopicProperties) -> None:
        self.id = entity_id
        self.properties = properties
        self.sequence = 0
        self.duplicates = DuplicateLog()
        self.subscriptions: dict[str, SubscriptionEntity] = {}
        self.scheduled = SubQueue(ctx, self, ACTIVE_TAG, dead_letter=False, sessions=False)
        """Messages scheduled on the topic: they fan out to the subscriptions when they become active."""

    @property
    def path(self) -> str:
        return self.properties.name

    @property
    def counters(self) -> MessageCounters:
        """Its scheduled sub-queue's: the topic's only path of its own, so its sends are counted there."""
        return self.scheduled.counters

    def size_in_bytes(self) -> int:
        return self.scheduled.size + sum(s.size_in_bytes() for s in self.subscriptions.values())

    def close(self) -> None:
        gone = MessagingEntityNotFound(f"The messaging entity '{self.path}' was deleted.")
        self.scheduled.close(gone)
        for subscription in self.subscriptions.values():
            subscription.close()


Owner = QueueEntity | SubscriptionEntity | TopicEntity
SendTarget = QueueEntity | TopicEntity


class Catalog:
    """Every entity of the namespace, by lower-cased name, and path resolution."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueEntity] = {}
        self.topics: dict[str, TopicEntity] = {}

    def queue(self, name: str) -> QueueEntity:
        queue = self.queues.get(name.lower())
        if queue is None:
            raise MessagingEntityNotFound(f"The messaging entity '{name}' could not be found.")
        return queue

    def topic(self, name: str) -> TopicEntity:
        topic = self.topics.get(name.lower())
        if topic is None:
            raise MessagingEntityNotFound(f"The messaging entity '{name}' could not be found.")
        return topic

    def subscription(self, topic_name: str, name: str) -> SubscriptionEntity:
        subscription = self.topic(topic_name).subscriptions.get(name.lower())
        if subscription is None:
            path = subscription_path(topic_name, name)
            raise MessagingEntityNotFound(f"The messaging entity '{path}' could not be found.")
        return subscription

    def send_target(self, name: str) -> SendTarget | None:
        """The queue or topic named ``name`` (what sends and auto-forwarding address), if any."""
        key = name.lower()
        return self.queues.get(key) or self.topics.get(key)

    def sender_entity(self, path: str) -> SendTarget:
        parsed = parse_path(path)
        if parsed.subscription is not None or parsed.dead_letter:
            raise InvalidOperation(f"Messages cannot be sent to '{path}': send to its queue or topic.")
        target = self.send_target(parsed.entity)
        if target is None:
            raise MessagingEntityNotFound(f"The messaging entity '{path}' could not be found.")
        return target

    def receivable(self, path: str) -> SubQueue:
        parsed: EntityPath = parse_path(path)
        owner: QueueEntity | SubscriptionEntity
        if parsed.subscription is not None:
            owner = self.subscription(parsed.entity, parsed.subscription)
        elif parsed.entity.lower() in self.topics:
            raise InvalidOperation(f"Messages cannot be received from topic '{path}': receive from a subscription.")
        else:
            owner = self.queue(parsed.entity)
        return owner.dlq if parsed.dead_letter else owner.main
