"""Rebuilding a broker from its state backend after a restart (or a crash).

What comes back: every entity and rule, every message that was not settled (deferred ones
deferred, scheduled ones scheduled, a message that was locked available again with its
delivery count), sequence counters that never go backwards, the duplicate detection
history and the session states. Rows of an entity whose deletion was written but whose
rows were not all removed are deleted here.
"""

from __future__ import annotations

import base64
import logging

from adapters.servicebus.broker.context import BrokerContext
from adapters.servicebus.broker.messages import BrokerMessage
from adapters.servicebus.broker.records import decode_record
from adapters.servicebus.broker.rules import Rule
from adapters.servicebus.broker.store import (
    DEAD_LETTER_TAG,
    DUPLICATES,
    QUEUES,
    RULES,
    SESSIONS,
    SUBSCRIPTIONS,
    TOPICS,
)
from adapters.servicebus.broker.topology import Catalog, Owner, QueueEntity, SubscriptionEntity, TopicEntity
from adapters.servicebus.entities import QueueProperties, RuleProperties, SubscriptionProperties, TopicProperties

log = logging.getLogger(__name__)


def load(ctx: BrokerContext, catalog: Catalog) -> None:
    store = ctx.store
    store.load_ids()
    sequences = store.load_sequences()
    owners: dict[int, Owner] = {}
    for key, record in store.load_entities(QUEUES):
        queue = QueueEntity(ctx, int(key), decode_record(QueueProperties, record))
        catalog.queues[queue.path.lower()] = owners[queue.id] = queue
    for key, record in store.load_entities(TOPICS):
        topic = TopicEntity(ctx, int(key), decode_record(TopicProperties, record))
        catalog.topics[topic.path.lower()] = owners[topic.id] = topic
    for key, record in store.load_entities(SUBSCRIPTIONS):
        topic_id, _, subscription_id = key.partition("/")
        parent = owners.get(int(topic_id))
        if not isinstance(parent, TopicEntity):  # the topic's deletion reached the disk, this one's did not
            store.delete_entity(SUBSCRIPTIONS, key, int(subscription_id))
            store.delete_rules(int(subscription_id))
            continue
        props = decode_record(SubscriptionProperties, record)
        subscription = SubscriptionEntity(ctx, int(subscription_id), parent, props)
        parent.subscriptions[props.name.lower()] = owners[subscription.id] = subscription
    _load_rules(ctx, owners)
    orphans: set[int] = set()
    for entity_id, sequence in sequences.items():
        owner = owners.get(entity_id)
        if owner is None:
            orphans.add(entity_id)
        else:
            owner.sequence = sequence
    for entity_id, tag, record, delivery_count in store.load_messages():
        owner = owners.get(entity_id)
        if owner is None:
            orphans.add(entity_id)
            continue
        message = BrokerMessage.from_record(record)
        message.delivery_count = delivery_count
        if isinstance(owner, TopicEntity):
            holder = owner.scheduled
        else:
            holder = owner.dlq if tag == DEAD_LETTER_TAG else owner.main
        holder.add(message, persist=False)
        owner.sequence = max(owner.sequence, message.sequence_number)
    _load_duplicates(ctx, owners, orphans)
    _load_session_states(ctx, owners, orphans)
    for entity_id in orphans:
        store.delete_owned(entity_id)


def _load_rules(ctx: BrokerContext, owners: dict[int, Owner]) -> None:
    for key, record in ctx.store.load_entities(RULES):
        subscription = owners.get(int(key.partition("/")[0]))
        if not isinstance(subscription, SubscriptionEntity):
            ctx.store.delete_entity_key(RULES, key)
            continue
        props = decode_record(RuleProperties, record)
        try:
            subscription.rules[props.name.lower()] = Rule(props)
        except Exception:  # a rule this version cannot compile must not keep the namespace down
            log.exception("rule %s of %s cannot be compiled; it is ignored", props.name, subscription.path)


def _load_duplicates(ctx: BrokerContext, owners: dict[int, Owner], orphans: set[int]) -> None:
    seen = []
    for entity_id, message_id, (when, sequence_number) in ctx.store.load_scoped(DUPLICATES):
        owner = owners.get(entity_id)
        if isinstance(owner, QueueEntity | TopicEntity):
            seen.append((when, owner, message_id, sequence_number))
        else:
            orphans.add(entity_id)
    for when, owner, message_id, sequence_number in sorted(seen, key=lambda s: s[0]):
        owner.duplicates.add(message_id, when, sequence_number)


def _load_session_states(ctx: BrokerContext, owners: dict[int, Owner], orphans: set[int]) -> None:
    for entity_id, session_id, state in ctx.store.load_scoped(SESSIONS):
        owner = owners.get(entity_id)
        if isinstance(owner, QueueEntity | SubscriptionEntity) and owner.main.sessions is not None:
            owner.main.sessions.open(session_id).state = base64.b64decode(state)
        else:
            orphans.add(entity_id)
