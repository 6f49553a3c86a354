"""Where a message goes: send checks, sequence numbers, duplicate detection, TTL, scheduling,
topic fan-out, auto-forwarding and dead-letter forwarding.

Every arrival, whether sent, forwarded or activated after scheduling, goes through
``enqueue``, so a forwarding target applies its own duplicate detection, TTL and sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from adapters.servicebus.broker.errors import (
    InvalidOperation,
    MessageSizeExceeded,
    MessagingEntityDisabled,
    QuotaExceeded,
)
from adapters.servicebus.broker.messages import (
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    UNBOUNDED_TTL,
    BrokerMessage,
    MessageState,
    expiry,
)
from adapters.servicebus.broker.rules import FILTER_ERROR_REASON, RuleFailure, select
from adapters.servicebus.broker.store import BrokerStore
from adapters.servicebus.broker.subqueue import SubQueue
from adapters.servicebus.broker.topology import (
    Catalog,
    QueueEntity,
    SendTarget,
    SubscriptionEntity,
    TopicEntity,
)
from adapters.servicebus.entities import EntityStatus

MAX_TRANSFER_HOPS = 4
HOP_LIMIT_REASON = "MaxTransferHopCountExceeded"
HOP_LIMIT_DESCRIPTION = "The maximum number of allowed hops when forwarding between queues has been exceeded."
NO_SESSION_REASON = "Session ID is null"
NO_SESSION_DESCRIPTION = "Session enabled entity doesn't allow a message whose session identifier is null."

_SEND_REFUSED = (EntityStatus.DISABLED, EntityStatus.SEND_DISABLED)
_MEGABYTE = 1024 * 1024

DeadLetterOwner = QueueEntity | SubscriptionEntity


class Router:
    def __init__(self, catalog: Catalog, store: BrokerStore, clock: Callable[[], float]) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock

    def send(self, entity: SendTarget, messages: Sequence[BrokerMessage]) -> list[int]:
        """Check a whole batch first (it is accepted or refused as one), then enqueue it."""
        props = entity.properties
        if props.status in _SEND_REFUSED:
            raise MessagingEntityDisabled(f"Messaging entity '{entity.path}' is currently disabled for send.")
        limit = props.max_message_size_in_kilobytes * 1024
        batch_size = 0
        for message in messages:
            message.size = message.estimate_size()
            if message.size > limit:
                raise MessageSizeExceeded(
                    f"The message of {message.size} bytes exceeds the limit of {limit} bytes of '{entity.path}'."
                )
            if isinstance(entity, QueueEntity) and props.requires_session and message.session_id is None:  # type: ignore[union-attr]
                raise InvalidOperation(
                    "The SessionId was not set on a message, and it cannot be sent to the entity. Entities that have "
                    "session support enabled can only receive messages that have the SessionId set to a valid value."
                )
            batch_size += message.size
        if entity.size_in_bytes() + batch_size > props.max_size_in_megabytes * _MEGABYTE:
            raise QuotaExceeded(
                f"The maximum entity size of {props.max_size_in_megabytes} MB has been reached for '{entity.path}'."
            )
        props.accessed_at = datetime.fromtimestamp(self.clock(), UTC)
        entity.counters.sent += len(messages)
        return [self.enqueue(entity, message) for message in messages]

    def enqueue(self, entity: SendTarget, message: BrokerMessage) -> int:
        """A message arrives at a queue or topic; returns its sequence number there."""
        now = self.clock()
        props = entity.properties
        message_id = message.message_id
        detect = props.requires_duplicate_detection and message_id is not None
        if detect:
            window = props.duplicate_detection_history_time_window.total_seconds()
            for forgotten in entity.duplicates.forget_before(now - window):
                self.store.delete_duplicate(entity.id, forgotten)
            seen = entity.duplicates.get(message_id)  # type: ignore[arg-type]
            if seen is not None:
                return seen
        sequence_number = self._next_sequence(entity)
        message.sequence_number = sequence_number
        message.enqueued_time = now
        message.state = MessageState.ACTIVE
        message.delivery_count = 0
        message.time_to_live = min(
            UNBOUNDED_TTL if message.time_to_live is None else message.time_to_live,
            props.default_message_time_to_live.total_seconds(),
        )
        if detect:
            entity.duplicates.add(message_id, now, sequence_number)  # type: ignore[arg-type]
            self.store.put_duplicate(entity.id, message_id, now, sequence_number)  # type: ignore[arg-type]
        scheduled = message.scheduled_enqueue_time
        if scheduled is not None and scheduled > now:
            message.state = MessageState.SCHEDULED
            (entity.main if isinstance(entity, QueueEntity) else entity.scheduled).add(message)
        elif isinstance(entity, QueueEntity):
            self._into_queue(entity, message)
        else:
            self._fan_out(entity, message)
        return sequence_number

    def activate(self, subqueue: SubQueue, message: BrokerMessage, now: float) -> None:
        """A scheduled message's time has come: it fans out, moves on, or becomes active in place."""
        owner = subqueue.owner
        key = subqueue.key(message)
        if isinstance(owner, TopicEntity):
            subqueue.remove(message, persist=False)
            message.state = MessageState.ACTIVE
            message.enqueued_time = now
            self._fan_out(owner, message)
        elif owner.properties.forward_to and self.catalog.send_target(owner.properties.forward_to) is not None:
            subqueue.remove(message, persist=False)
            message.state = MessageState.ACTIVE
            self._forward(owner, owner.properties.forward_to, message)
        else:
            subqueue.activate(message, now)
            return
        self.store.delete_message(key)  # after the message was written where it went

    def dead_lettered(self, owner: DeadLetterOwner, message: BrokerMessage, forward: bool = True) -> None:
        """Store a dead-lettered message in the owner's dead-letter queue, or forward it from there."""
        target_name = owner.properties.forward_dead_lettered_messages_to
        target = self.catalog.send_target(target_name) if forward and target_name else None
        if target is not None and message.transfer_hops < MAX_TRANSFER_HOPS:
            message.dead_letter_source = owner.path
            message.transfer_hops += 1
            self.enqueue(target, message)
            return
        message.state = MessageState.ACTIVE
        owner.dlq.add(message)

    # -- internals ---------------------------------------------------------------------------

    def _next_sequence(self, entity: QueueEntity | TopicEntity | SubscriptionEntity) -> int:
        entity.sequence += 1
        self.store.put_sequence(entity.id, entity.sequence)
        return entity.sequence

    def _into_queue(self, queue: QueueEntity, message: BrokerMessage) -> None:
        forward_to = queue.properties.forward_to
        if forward_to and self._forward(queue, forward_to, message):
            return
        self._store_active(queue, message)

    def _fan_out(self, topic: TopicEntity, message: BrokerMessage) -> None:
        for subscription in topic.subscriptions.values():
            try:
                copies = select(subscription.rules.values(), message)
            except RuleFailure as failure:
                if subscription.properties.dead_lettering_on_filter_evaluation_exceptions:
                    copy = message.copy()
                    self._stamp(subscription, copy)
                    self._dead_letter_new(subscription, copy, FILTER_ERROR_REASON, str(failure))
                continue
            for copy in copies:
                self._stamp(subscription, copy)
                forward_to = subscription.properties.forward_to
                if forward_to and self._forward(subscription, forward_to, copy):
                    continue
                self._store_active(subscription, copy)

    def _stamp(self, subscription: SubscriptionEntity, copy: BrokerMessage) -> None:
        copy.sequence_number = self._next_sequence(subscription)
        default_ttl = subscription.properties.default_message_time_to_live.total_seconds()
        copy.time_to_live = min(UNBOUNDED_TTL if copy.time_to_live is None else copy.time_to_live, default_ttl)

    def _store_active(self, owner: DeadLetterOwner, message: BrokerMessage) -> None:
        if owner.properties.requires_session and message.session_id is None:
            self._dead_letter_new(owner, message, NO_SESSION_REASON, NO_SESSION_DESCRIPTION)
            return
        message.expires_at = expiry(message.enqueued_time, message.time_to_live)
        owner.main.add(message)

    def _forward(self, source: DeadLetterOwner, target_name: str, message: BrokerMessage) -> bool:
        """Auto-forward a message arriving at ``source``; False when the target does not exist (it stays)."""
        target = self.catalog.send_target(target_name)
        if target is None:
            return False
        if message.transfer_hops >= MAX_TRANSFER_HOPS:
            self._dead_letter_new(source, message, HOP_LIMIT_REASON, HOP_LIMIT_DESCRIPTION, forward=False)
            return True
        message.transfer_hops += 1
        self.enqueue(target, message)
        return True

    def _dead_letter_new(
        self, owner: DeadLetterOwner, message: BrokerMessage, reason: str, description: str, forward: bool = True
    ) -> None:
        """Dead-letter a message that never reached the owner's active queue."""
        message.application_properties[DEAD_LETTER_REASON] = reason
        message.application_properties[DEAD_LETTER_DESCRIPTION] = description
        owner.main.counters.dead_letter(reason)
        self.dead_lettered(owner, message, forward)
