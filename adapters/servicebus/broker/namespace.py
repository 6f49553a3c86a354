"""The broker of one Service Bus namespace: entities, sending, receivers, runtime figures.

Durability contract: every ``async`` method that changes state returns only once the change
is durable (it awaits the state backend's flush; concurrent calls share one commit), so the
protocol layers acknowledge as soon as a call returns and need no flush of their own. The
synchronous ones that change state (``send_now``, and a receiver's ``take`` and settlements)
apply at once and leave the flush to the caller, to await before acknowledging. Locks
are the exception by design: they live in memory, and after a restart a locked message is
available again with its delivery count (persisted at delivery) already incremented.

Entity properties are handed out as copies: changing one changes nothing until it is
passed to an ``update_*`` method.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from adapters.servicebus.broker import recovery
from adapters.servicebus.broker.context import BrokerContext
from adapters.servicebus.broker.errors import (
    InvalidEntityDefinition,
    InvalidOperation,
    MessagingEntityAlreadyExists,
    MessagingEntityDisabled,
    MessagingEntityNotFound,
    OperationTimeout,
    SessionLockLost,
)
from adapters.servicebus.broker.messages import BrokerMessage
from adapters.servicebus.broker.paths import subscription_path
from adapters.servicebus.broker.receivers import (
    RECEIVE_REFUSED,
    ReceiveMode,
    Receiver,
    SessionReceiver,
    accept_session,
)
from adapters.servicebus.broker.records import encode_record
from adapters.servicebus.broker.router import Router
from adapters.servicebus.broker.rules import Rule
from adapters.servicebus.broker.runtime import EntityRuntime, PathCounters
from adapters.servicebus.broker.store import QUEUES, SUBSCRIPTIONS, TOPICS, BrokerStore
from adapters.servicebus.broker.subqueue import SubQueue
from adapters.servicebus.broker.timers import Timers
from adapters.servicebus.broker.topology import Catalog, QueueEntity, SubscriptionEntity, TopicEntity
from adapters.servicebus.entities import (
    DEFAULT_RULE,
    NamespaceConfig,
    QueueProperties,
    RuleProperties,
    SubscriptionProperties,
    TopicProperties,
)
from controlplane.state.backend import StateBackend

P = TypeVar("P", QueueProperties, TopicProperties, SubscriptionProperties)


class Broker:
    def __init__(self, backend: StateBackend, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.store = BrokerStore(backend)
        self.catalog = Catalog()
        self.timers = Timers(clock)
        self.router = Router(self.catalog, self.store, clock)
        self.ctx = BrokerContext(self.store, self.timers, clock, self.router)

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild every entity and message from the state backend (once, before start)."""
        recovery.load(self.ctx, self.catalog)

    def start(self) -> None:
        """Start the task that fires lock expiries, TTL expiries and scheduled activations."""
        self.timers.start()

    async def close(self) -> None:
        """Stop the timers and end every waiting call: receives return empty, session accepts time out.

        Does not close the backend (its owner does).
        """
        await self.timers.stop()
        for subqueue in self._subqueues():
            subqueue.backlog.close()
            if subqueue.sessions is not None:
                subqueue.sessions.close(OperationTimeout("The broker is shutting down."))
                for session in subqueue.sessions.sessions.values():
                    session.backlog.close()

    def run_due(self) -> None:
        """Fire every deadline the clock has reached (the timer task does this on its own)."""
        self.timers.run_due()

    async def apply_config(self, config: NamespaceConfig) -> None:
        """Create what a start-up config defines and does not exist yet (existing entities are kept).

        Forwarding targets are not checked: a config may name them in any order.
        """
        for queue in config.queues:
            if self.catalog.send_target(queue.name) is None:
                self._add_queue(queue, check_forwarding=False)
        for topic in config.topics:
            if self.catalog.send_target(topic.name) is None:
                self._add_topic(topic)
        for subscription in config.subscriptions:
            topic_entity = self.catalog.topic(subscription.topic_name)
            if subscription.name.lower() in topic_entity.subscriptions:
                continue
            rules = [
                r
                for r in config.rules
                if r.topic_name.lower() == subscription.topic_name.lower()
                and r.subscription_name.lower() == subscription.name.lower()
            ]
            self._add_subscription(subscription, rules, check_forwarding=False)
        await self.store.flush()

    # -- queues ------------------------------------------------------------------------------

    async def create_queue(self, properties: QueueProperties) -> QueueProperties:
        queue = self._add_queue(properties, check_forwarding=True)
        await self.store.flush()
        return dataclasses.replace(queue.properties)

    def get_queue(self, name: str) -> QueueProperties:
        return dataclasses.replace(self.catalog.queue(name).properties)

    def list_queues(self) -> list[QueueProperties]:
        return [dataclasses.replace(q.properties) for _, q in sorted(self.catalog.queues.items())]

    async def update_queue(self, properties: QueueProperties) -> QueueProperties:
        queue = self.catalog.queue(properties.name)
        if properties.requires_session != queue.properties.requires_session:
            raise InvalidEntityDefinition("The RequiresSession property of an existing queue cannot be changed.")
        self._check_forwarding(properties.name, properties.forward_to, properties.forward_dead_lettered_messages_to)
        queue.properties = self._updated(queue.properties, properties)
        self.store.put_entity(QUEUES, str(queue.id), encode_record(queue.properties))
        await self.store.flush()
        return dataclasses.replace(queue.properties)

    async def delete_queue(self, name: str) -> None:
        queue = self.catalog.queue(name)
        del self.catalog.queues[name.lower()]
        queue.close()
        self.store.delete_entity(QUEUES, str(queue.id), queue.id)
        await self.store.flush()

    def queue_runtime(self, name: str) -> EntityRuntime:
        self.timers.run_due()
        queue = self.catalog.queue(name)
        return _runtime(queue.properties, queue.main, queue.dlq)

    # -- topics ------------------------------------------------------------------------------

    async def create_topic(self, properties: TopicProperties) -> TopicProperties:
        topic = self._add_topic(properties)
        await self.store.flush()
        return dataclasses.replace(topic.properties)

    def get_topic(self, name: str) -> TopicProperties:
        return dataclasses.replace(self.catalog.topic(name).properties)

    def list_topics(self) -> list[TopicProperties]:
        return [dataclasses.replace(t.properties) for _, t in sorted(self.catalog.topics.items())]

    async def update_topic(self, properties: TopicProperties) -> TopicProperties:
        topic = self.catalog.topic(properties.name)
        topic.properties = self._updated(topic.properties, properties)
        self.store.put_entity(TOPICS, str(topic.id), encode_record(topic.properties))
        await self.store.flush()
        return dataclasses.replace(topic.properties)

    async def delete_topic(self, name: str) -> None:
        topic = self.catalog.topic(name)
        del self.catalog.topics[name.lower()]
        topic.close()
        # The topic's row goes first: if only part of this reaches the disk, the next load
        # removes subscriptions whose topic is gone.
        self.store.delete_entity(TOPICS, str(topic.id), topic.id)
        for subscription in topic.subscriptions.values():
            self._forget_subscription(subscription)
        await self.store.flush()

    def topic_runtime(self, name: str) -> EntityRuntime:
        self.timers.run_due()
        topic = self.catalog.topic(name)
        props = topic.properties
        return EntityRuntime(
            name=props.name,
            created_at=props.created_at,
            updated_at=props.updated_at,
            accessed_at=props.accessed_at,
            scheduled_message_count=topic.scheduled.scheduled_count,
            total_message_count=len(topic.scheduled.messages),
            size_in_bytes=topic.size_in_bytes(),
            subscription_count=len(topic.subscriptions),
        )

    # -- subscriptions -----------------------------------------------------------------------

    async def create_subscription(
        self, properties: SubscriptionProperties, rule: RuleProperties | None = None
    ) -> SubscriptionProperties:
        """Create a subscription with ``rule``, or with a ``$Default`` rule that takes every message."""
        subscription = self._add_subscription(properties, [rule] if rule else [], check_forwarding=True)
        await self.store.flush()
        return dataclasses.replace(subscription.properties)

    def get_subscription(self, topic_name: str, name: str) -> SubscriptionProperties:
        return dataclasses.replace(self.catalog.subscription(topic_name, name).properties)

    def list_subscriptions(self, topic_name: str) -> list[SubscriptionProperties]:
        topic = self.catalog.topic(topic_name)
        return [dataclasses.replace(s.properties) for _, s in sorted(topic.subscriptions.items())]

    async def update_subscription(self, properties: SubscriptionProperties) -> SubscriptionProperties:
        subscription = self.catalog.subscription(properties.topic_name, properties.name)
        if properties.requires_session != subscription.properties.requires_session:
            raise InvalidEntityDefinition("The RequiresSession property of an existing subscription cannot be changed.")
        self._check_forwarding(None, properties.forward_to, properties.forward_dead_lettered_messages_to)
        updated = self._updated(subscription.properties, properties)
        updated.topic_name = subscription.topic.properties.name
        subscription.properties = updated
        self._put_subscription(subscription)
        await self.store.flush()
        return dataclasses.replace(updated)

    async def delete_subscription(self, topic_name: str, name: str) -> None:
        subscription = self.catalog.subscription(topic_name, name)
        del subscription.topic.subscriptions[name.lower()]
        subscription.close()
        self._forget_subscription(subscription)
        await self.store.flush()

    def subscription_runtime(self, topic_name: str, name: str) -> EntityRuntime:
        self.timers.run_due()
        subscription = self.catalog.subscription(topic_name, name)
        return _runtime(subscription.properties, subscription.main, subscription.dlq)

    # -- rules -------------------------------------------------------------------------------

    async def create_rule(self, rule: RuleProperties) -> RuleProperties:
        subscription = self.catalog.subscription(rule.topic_name, rule.subscription_name)
        if rule.name.lower() in subscription.rules:
            raise MessagingEntityAlreadyExists(f"The rule '{rule.name}' already exists.")
        created = self._put_rule(subscription, dataclasses.replace(rule, created_at=self._now()))
        await self.store.flush()
        return created

    def get_rule(self, topic_name: str, subscription_name: str, name: str) -> RuleProperties:
        return dataclasses.replace(self._rule(topic_name, subscription_name, name).properties)

    def list_rules(self, topic_name: str, subscription_name: str) -> list[RuleProperties]:
        subscription = self.catalog.subscription(topic_name, subscription_name)
        return [dataclasses.replace(r.properties) for r in subscription.rules.values()]

    async def update_rule(self, rule: RuleProperties) -> RuleProperties:
        existing = self._rule(rule.topic_name, rule.subscription_name, rule.name).properties
        subscription = self.catalog.subscription(rule.topic_name, rule.subscription_name)
        updated = dataclasses.replace(rule, name=existing.name, created_at=existing.created_at)
        result = self._put_rule(subscription, updated)
        await self.store.flush()
        return result

    async def delete_rule(self, topic_name: str, subscription_name: str, name: str) -> None:
        subscription = self.catalog.subscription(topic_name, subscription_name)
        self._rule(topic_name, subscription_name, name)
        del subscription.rules[name.lower()]
        self.store.delete_rule(subscription.id, name)
        await self.store.flush()

    # -- messaging ---------------------------------------------------------------------------

    async def send(self, path: str, messages: Sequence[BrokerMessage]) -> list[int]:
        """Send to a queue or topic; returns the sequence numbers (a dropped duplicate: its original's)."""
        sequence_numbers = self.send_now(path, messages)
        await self.store.flush()
        return sequence_numbers

    def send_now(self, path: str, messages: Sequence[BrokerMessage]) -> list[int]:
        """``send`` without the wait: applied, and durable once the store is flushed."""
        return self.router.send(self.catalog.sender_entity(path), messages)

    async def schedule(self, path: str, messages: Sequence[BrokerMessage], enqueue_time: float) -> list[int]:
        """Send messages that become active at ``enqueue_time`` (POSIX seconds)."""
        for message in messages:
            message.scheduled_enqueue_time = enqueue_time
        return await self.send(path, messages)

    async def cancel_scheduled(self, path: str, sequence_numbers: Iterable[int]) -> None:
        """Remove scheduled messages that are not active yet; MessageNotFound if one is not pending."""
        entity = self.catalog.sender_entity(path)
        holder = entity.main if isinstance(entity, QueueEntity) else entity.scheduled
        holder.cancel_scheduled(sequence_numbers)
        await self.store.flush()

    def receiver(self, path: str, mode: ReceiveMode = ReceiveMode.PEEK_LOCK) -> Receiver:
        """A session-less receiver on a queue, a subscription or a dead-letter queue."""
        subqueue = self._receivable(path)
        if subqueue.sessions is not None:
            raise InvalidOperation(
                "It is not possible for an entity that requires sessions to create a non-sessionful message receiver."
            )
        return Receiver(subqueue, mode)

    async def accept_session(
        self,
        path: str,
        session_id: str | None = None,
        mode: ReceiveMode = ReceiveMode.PEEK_LOCK,
        timeout: float | None = None,
    ) -> SessionReceiver:
        """Lock a named session (SessionCannotBeLocked if held), or the next available one (OperationTimeout)."""
        return await accept_session(self._receivable(path), session_id, mode, timeout)

    def session_receiver(self, path: str, session_id: str) -> SessionReceiver:
        """The receiver holding a session's lock (what management requests naming a session act through)."""
        subqueue = self.catalog.receivable(path)
        if subqueue.sessions is None:
            raise InvalidOperation(f"The messaging entity '{path}' does not require sessions.")
        self.timers.run_due()
        session = subqueue.sessions.get(session_id)
        if session is None or session.receiver is None:
            raise SessionLockLost()
        return session.receiver

    # -- counters ----------------------------------------------------------------------------

    def message_counters(self) -> list[PathCounters]:
        """Every path's counters: queues, topics, subscriptions and their dead-letter queues.

        Safe to call from another thread (a scrape): each table is copied in one step before
        it is walked, so an entity created meanwhile cannot break the walk.
        """
        found: list[PathCounters] = []
        for queue in tuple(self.catalog.queues.values()):
            found.append(PathCounters(queue.path, queue.main.counters, sendable=True, receivable=True))
            found.append(PathCounters(queue.dlq.path, queue.dlq.counters, sendable=False, receivable=True))
        for topic in tuple(self.catalog.topics.values()):
            found.append(PathCounters(topic.path, topic.counters, sendable=True, receivable=False))
            for subscription in tuple(topic.subscriptions.values()):
                main, dlq = subscription.main, subscription.dlq
                found.append(PathCounters(main.path, main.counters, sendable=False, receivable=True))
                found.append(PathCounters(dlq.path, dlq.counters, sendable=False, receivable=True))
        return found

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _stamped(self, properties: P) -> P:
        now = self._now()
        return dataclasses.replace(properties, created_at=now, updated_at=now, accessed_at=now)

    def _updated(self, current: P, new: P) -> P:
        """``new`` with what an update keeps: the created casing of the name and the creation time."""
        return dataclasses.replace(
            new,
            name=current.name,
            created_at=current.created_at,
            updated_at=self._now(),
            accessed_at=current.accessed_at,
        )

    def _check_name_free(self, name: str) -> None:
        if self.catalog.send_target(name) is not None:
            raise MessagingEntityAlreadyExists(f"The messaging entity '{name}' already exists.")

    def _check_forwarding(self, name: str | None, *targets: str | None) -> None:
        for target in targets:
            if not target:
                continue
            if name is not None and target.lower() == name.lower():
                raise InvalidEntityDefinition(f"The entity '{name}' cannot auto-forward to itself.")
            if self.catalog.send_target(target) is None:
                raise InvalidEntityDefinition(f"The auto-forwarding destination entity '{target}' does not exist.")

    def _add_queue(self, properties: QueueProperties, check_forwarding: bool) -> QueueEntity:
        self._check_name_free(properties.name)
        if check_forwarding:
            self._check_forwarding(properties.name, properties.forward_to, properties.forward_dead_lettered_messages_to)
        queue = QueueEntity(self.ctx, self.store.new_id(), self._stamped(properties))
        self.catalog.queues[properties.name.lower()] = queue
        self.store.put_entity(QUEUES, str(queue.id), encode_record(queue.properties))
        return queue

    def _add_topic(self, properties: TopicProperties) -> TopicEntity:
        self._check_name_free(properties.name)
        topic = TopicEntity(self.ctx, self.store.new_id(), self._stamped(properties))
        self.catalog.topics[properties.name.lower()] = topic
        self.store.put_entity(TOPICS, str(topic.id), encode_record(topic.properties))
        return topic

    def _add_subscription(
        self, properties: SubscriptionProperties, rules: list[RuleProperties], check_forwarding: bool
    ) -> SubscriptionEntity:
        topic = self.catalog.topic(properties.topic_name)
        if properties.name.lower() in topic.subscriptions:
            path = subscription_path(topic.path, properties.name)
            raise MessagingEntityAlreadyExists(f"The messaging entity '{path}' already exists.")
        if check_forwarding:
            self._check_forwarding(None, properties.forward_to, properties.forward_dead_lettered_messages_to)
        rules = rules or [RuleProperties(properties.topic_name, properties.name, DEFAULT_RULE)]
        compiled = [Rule(dataclasses.replace(r, created_at=self._now())) for r in rules]  # may refuse a rule
        stamped = self._stamped(properties)
        stamped.topic_name = topic.properties.name
        subscription = SubscriptionEntity(self.ctx, self.store.new_id(), topic, stamped)
        topic.subscriptions[properties.name.lower()] = subscription
        self._put_subscription(subscription)
        for rule in compiled:
            self._store_rule(subscription, rule)
        return subscription

    def _put_subscription(self, subscription: SubscriptionEntity) -> None:
        key = f"{subscription.topic.id}/{subscription.id}"
        self.store.put_entity(SUBSCRIPTIONS, key, encode_record(subscription.properties))

    def _forget_subscription(self, subscription: SubscriptionEntity) -> None:
        key = f"{subscription.topic.id}/{subscription.id}"
        self.store.delete_entity(SUBSCRIPTIONS, key, subscription.id)
        self.store.delete_rules(subscription.id)

    def _rule(self, topic_name: str, subscription_name: str, name: str) -> Rule:
        rule = self.catalog.subscription(topic_name, subscription_name).rules.get(name.lower())
        if rule is None:
            raise MessagingEntityNotFound(f"The rule '{name}' could not be found.")
        return rule

    def _put_rule(self, subscription: SubscriptionEntity, properties: RuleProperties) -> RuleProperties:
        rule = Rule(properties)  # compiles first: a refused rule changes nothing
        self._store_rule(subscription, rule)
        return dataclasses.replace(rule.properties)

    def _store_rule(self, subscription: SubscriptionEntity, rule: Rule) -> None:
        props = rule.properties
        props.topic_name = subscription.topic.properties.name
        props.subscription_name = subscription.properties.name
        subscription.rules[props.name.lower()] = rule
        self.store.put_rule(subscription.id, props.name, encode_record(props))

    def _receivable(self, path: str) -> SubQueue:
        subqueue = self.catalog.receivable(path)
        owner = subqueue.owner
        if owner.properties.status in RECEIVE_REFUSED:
            raise MessagingEntityDisabled(f"Messaging entity '{owner.path}' is currently disabled for receive.")
        if not subqueue.is_dead_letter and owner.properties.forward_to:  # type: ignore[union-attr]
            raise InvalidOperation("Cannot create a message receiver on an entity with auto-forwarding enabled.")
        return subqueue

    def _subqueues(self) -> Iterable[SubQueue]:
        for queue in self.catalog.queues.values():
            yield from (queue.main, queue.dlq)
        for topic in self.catalog.topics.values():
            yield topic.scheduled
            for subscription in topic.subscriptions.values():
                yield from (subscription.main, subscription.dlq)


def _runtime(
    properties: QueueProperties | SubscriptionProperties, main: SubQueue, dead_letter: SubQueue
) -> EntityRuntime:
    return EntityRuntime(
        name=properties.name,
        created_at=properties.created_at,
        updated_at=properties.updated_at,
        accessed_at=properties.accessed_at,
        active_message_count=main.active_count,
        dead_letter_message_count=len(dead_letter.messages),
        scheduled_message_count=main.scheduled_count,
        total_message_count=len(main.messages) + len(dead_letter.messages),
        size_in_bytes=main.size + dead_letter.size,
    )
