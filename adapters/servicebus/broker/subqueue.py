"""The messages of one receivable path: a queue, a subscription, or the dead-letter queue of either.

A sub-queue holds every message of its path in sequence order (active, locked, deferred,
scheduled), the ready ones in a backlog (or, in a session entity, one backlog per session)
and the peek-locked ones by lock token. It owns the message life cycle: lock, settle,
return after an abandon or an expired lock (dead-lettering past the maximum delivery
count), expire (TTL), activate (scheduled). Moving a message elsewhere (dead-letter queue,
auto-forwarding, topic fan-out) is the router's job.

A topic has one too, holding only its scheduled messages until they fan out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from adapters.servicebus.broker.backlog import Backlog
from adapters.servicebus.broker.context import BrokerContext
from adapters.servicebus.broker.errors import MessageLockLost, MessageNotFound
from adapters.servicebus.broker.messages import (
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    NEVER,
    BrokerMessage,
    MessageState,
    expiry,
)
from adapters.servicebus.broker.paths import dead_letter_path
from adapters.servicebus.broker.runtime import CLIENT_DEAD_LETTER, MessageCounters
from adapters.servicebus.broker.sessions import Session, SessionTable
from adapters.servicebus.broker.store import message_key
from adapters.servicebus.entities import QueueProperties, SubscriptionProperties
from controlplane.ids import random_bytes

if TYPE_CHECKING:
    from adapters.servicebus.broker.topology import Owner

MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_EXPIRED_REASON = "TTLExpiredException"
TTL_EXPIRED_DESCRIPTION = "The message expired and was dead lettered."

ACTIVE, DEFERRED, SCHEDULED = MessageState.ACTIVE, MessageState.DEFERRED, MessageState.SCHEDULED


def new_lock_token() -> uuid.UUID:
    """A random v4 UUID without ``uuid4()``'s syscall per call: one is made for every delivery."""
    return uuid.UUID(bytes=random_bytes(16), version=4)


class SubQueue:
    def __init__(self, ctx: BrokerContext, owner: Owner, tag: str, *, dead_letter: bool, sessions: bool) -> None:
        self.ctx = ctx
        self.owner = owner
        self.prefix = f"{owner.id}/{tag}"
        """The key prefix of this sub-queue's messages in the store."""
        self.is_dead_letter = dead_letter
        self.messages: SortedDict[int, BrokerMessage] = SortedDict()
        self.backlog = Backlog(self.messages)
        self.sessions = SessionTable(self.messages) if sessions else None
        self.locks: dict[uuid.UUID, BrokerMessage] = {}
        self._counts = [0, 0, 0]
        """Messages per state (indexed by MessageState)."""
        self.size = 0
        self.closed = False
        self.counters = MessageCounters()

    @property
    def path(self) -> str:
        return dead_letter_path(self.owner.path) if self.is_dead_letter else self.owner.path

    @property
    def _settings(self) -> QueueProperties | SubscriptionProperties:
        """The owner's delivery settings (a topic's sub-queue holds scheduled messages only: never asked)."""
        return self.owner.properties  # type: ignore[return-value]

    @property
    def active_count(self) -> int:
        """Active messages, locked and deferred ones included (as the service counts them)."""
        return self._counts[ACTIVE] + self._counts[DEFERRED]

    @property
    def scheduled_count(self) -> int:
        return self._counts[SCHEDULED]

    def key(self, message: BrokerMessage) -> str:
        return message_key(self.prefix, message.sequence_number)

    # -- membership --------------------------------------------------------------------------

    def add(self, message: BrokerMessage, persist: bool = True) -> None:
        message.home = self
        self.messages[message.sequence_number] = message
        self._counts[message.state] += 1
        self.size += message.size
        if self.sessions is not None:
            self.sessions.added(message)
        if persist:
            self.ctx.store.put_message(self.key(message), message.record())
        if message.state is SCHEDULED:
            self.ctx.timers.at(message.scheduled_enqueue_time or 0.0, self._activate_due, message)
            return
        if message.expires_at != NEVER and not self.is_dead_letter:
            self.ctx.timers.at(message.expires_at, self._expire_due, message)
        if message.state is ACTIVE:
            self.make_ready(message)

    def remove(self, message: BrokerMessage, persist: bool = True) -> None:
        """The message leaves this sub-queue for good (settled, expired, moved).

        A move passes ``persist=False`` and deletes the stored row after writing the message
        where it went: a crash between the two then duplicates the message, never loses it.
        """
        del self.messages[message.sequence_number]
        message.home = None
        self._counts[message.state] -= 1
        self.size -= message.size
        if message.lock_token is not None:
            self.unlock(message)
        if self.sessions is not None:
            self.sessions.removed(message)
        else:
            self.backlog.discard(message)
        if persist:
            self.ctx.store.delete_message(self.key(message))

    def make_ready(self, message: BrokerMessage) -> None:
        if self.sessions is not None:
            self.sessions.ready(message)
        else:
            self.backlog.push(message)

    def close(self, error: Exception) -> None:
        """The entity is gone: end every waiting call with ``error`` and ignore the timers still set."""
        self.closed = True
        self.backlog.close(error=error)
        if self.sessions is not None:
            self.sessions.close(error)
            for session in list(self.sessions.sessions.values()):
                session.backlog.close(error=error)

    # -- delivery ----------------------------------------------------------------------------

    def lock(self, message: BrokerMessage, until: float) -> None:
        """Peek-lock a message being delivered: its delivery count goes up, durably."""
        token = new_lock_token()
        message.lock_token = token
        message.locked_until = until
        message.delivery_count += 1
        self.counters.delivered += 1
        self.locks[token] = message
        self.ctx.store.put_delivery_count(self.key(message), message.delivery_count)

    def lock_with_expiry(self, messages: list[BrokerMessage]) -> None:
        """Peek-lock messages for a session-less receiver: each lock expires after the lock duration."""
        until = self.ctx.clock() + self._settings.lock_duration.total_seconds()
        for message in messages:
            self.lock(message, until)
        self.ctx.timers.at(until, self._locks_due, [(m, m.lock_token) for m in messages])

    def unlock(self, message: BrokerMessage) -> None:
        if message.lock_token is not None:
            self.locks.pop(message.lock_token, None)
        message.lock_token = None
        message.locked_until = 0.0

    def delete_delivered(self, messages: list[BrokerMessage]) -> None:
        """Receive-and-delete: the messages leave as they are handed out."""
        for message in messages:
            message.delivery_count += 1
            self.remove(message)
        self.counters.delivered += len(messages)
        self.counters.completed += len(messages)

    def restore(self, messages: list[BrokerMessage]) -> None:
        """Put back receive-and-delete messages whose receive call was cancelled before returning."""
        for message in messages:
            self.add(message)
        self.counters.delivered -= len(messages)
        self.counters.completed -= len(messages)

    def renew(self, message: BrokerMessage) -> float:
        until = self.ctx.clock() + self._settings.lock_duration.total_seconds()
        message.locked_until = until
        self.ctx.timers.at(until, self._locks_due, [(message, message.lock_token)])
        return until

    def locked(self, token: uuid.UUID) -> BrokerMessage:
        """The message a lock token holds, or MessageLockLost (unknown, settled or expired lock)."""
        message = self.locks.get(token)
        if message is None:
            raise MessageLockLost()
        now = self.ctx.clock()
        if message.locked_until <= now:
            self._lock_lost(message, now)
            raise MessageLockLost()
        return message

    # -- settlement --------------------------------------------------------------------------

    def complete(self, message: BrokerMessage) -> None:
        self.remove(message)
        self.counters.completed += 1

    def abandon(self, message: BrokerMessage, properties: Mapping[str, Any] | None, failed: bool = True) -> None:
        """Unlock and return. ``failed``: the delivery counts as a failed attempt (AMQP modified with
        delivery-failed, the SDK's abandon); otherwise (AMQP released) the message is back unchanged,
        so the count its delivery added is taken back."""
        self.unlock(message)
        if not failed:
            message.delivery_count -= 1
            self.ctx.store.put_delivery_count(self.key(message), message.delivery_count)
        self._modify(message, properties)
        self.returned(message, self.ctx.clock())

    def defer(self, message: BrokerMessage, properties: Mapping[str, Any] | None) -> None:
        self.unlock(message)
        if properties:
            message.application_properties.update(properties)
        self._set_state(message, DEFERRED)
        self.ctx.store.put_message(self.key(message), message.record())

    def dead_letter(
        self,
        message: BrokerMessage,
        reason: str | None,
        description: str | None,
        properties: Mapping[str, Any] | None = None,
        counted_as: str | None = None,
    ) -> None:
        """Move a message to the owner's dead-letter queue (or where that forwards to).

        ``counted_as`` names the reason in the counters when ``reason`` is not the broker's own.
        """
        key = self.key(message)
        self.remove(message, persist=False)
        props = message.application_properties
        if properties:
            props.update(properties)
        if reason is not None:
            props[DEAD_LETTER_REASON] = reason
        if description is not None:
            props[DEAD_LETTER_DESCRIPTION] = description
        message.state = ACTIVE
        self.counters.dead_letter(counted_as or reason or CLIENT_DEAD_LETTER)
        self.ctx.router.dead_lettered(self.owner, message)  # type: ignore[arg-type]
        self.ctx.store.delete_message(key)

    def returned(self, message: BrokerMessage, now: float) -> None:
        """A message is back after an abandon or a lost lock: ready again, expired, or dead-lettered."""
        if not self.is_dead_letter:
            limit = self._settings.max_delivery_count
            if message.delivery_count >= limit:
                description = f"Message could not be consumed after {limit} delivery attempts."
                self.dead_letter(message, MAX_DELIVERY_REASON, description)
                return
            if message.expires_at <= now:
                self._expire(message)
                return
        if message.state is ACTIVE:
            self.make_ready(message)

    # -- lookups -----------------------------------------------------------------------------

    def peek(self, from_sequence_number: int, max_count: int, session_id: str | None = None) -> list[BrokerMessage]:
        """Messages from a sequence number on, in any state, without locking them."""
        found: list[BrokerMessage] = []
        if max_count <= 0:
            return found
        for sequence_number in self.messages.irange(minimum=from_sequence_number):
            message = self.messages[sequence_number]
            if session_id is not None and message.session_id != session_id:
                continue
            found.append(message)
            if len(found) >= max_count:
                break
        return found

    def deferred(self, sequence_numbers: Iterable[int], session_id: str | None = None) -> list[BrokerMessage]:
        """The deferred, unlocked messages with these sequence numbers, or MessageNotFound."""
        found: list[BrokerMessage] = []
        for sequence_number in sequence_numbers:
            message = self.messages.get(sequence_number)
            if (
                message is None
                or message.state is not DEFERRED
                or message.lock_token is not None
                or (session_id is not None and message.session_id != session_id)
            ):
                raise MessageNotFound(
                    f"Failed to lock one or more specified messages. Either the message with sequence number "
                    f"{sequence_number} is already locked, or it does not exist or is not deferred."
                )
            found.append(message)
        return found

    def cancel_scheduled(self, sequence_numbers: Iterable[int]) -> None:
        found = []
        for sequence_number in sequence_numbers:
            message = self.messages.get(sequence_number)
            if message is None or message.state is not SCHEDULED:
                raise MessageNotFound(f"No scheduled message with sequence number {sequence_number}.")
            found.append(message)
        for message in found:
            self.remove(message)

    def activate(self, message: BrokerMessage, now: float) -> None:
        """A scheduled message becomes active where it is (its enqueued time is the scheduled time)."""
        self._set_state(message, ACTIVE)
        message.enqueued_time = now
        message.expires_at = expiry(now, message.time_to_live)
        if message.expires_at != NEVER:
            self.ctx.timers.at(message.expires_at, self._expire_due, message)
        self.ctx.store.put_message(self.key(message), message.record())
        self.make_ready(message)

    # -- sessions ----------------------------------------------------------------------------

    def lock_session(self, session: Session, token: uuid.UUID) -> float:
        """Take (or renew) a session's lock for the lock duration; returns when it expires."""
        until = self.ctx.clock() + self._settings.lock_duration.total_seconds()
        session.lock_token, session.locked_until = token, until
        self.ctx.timers.at(until, self._session_lock_due, (session, token))
        return until

    def unlock_session(self, session: Session) -> None:
        session.receiver = None
        session.lock_token = None
        session.locked_until = 0.0
        if self.sessions is not None:
            self.sessions.unlocked(session)

    # -- deadlines ---------------------------------------------------------------------------

    def _locks_due(self, entries: list[tuple[BrokerMessage, uuid.UUID]], now: float) -> None:
        if self.closed:
            return
        for message, token in entries:
            if message.lock_token == token and message.home is self and message.locked_until <= now:
                self._lock_lost(message, now)

    def _lock_lost(self, message: BrokerMessage, now: float) -> None:
        self.counters.lock_lost += 1
        self.unlock(message)
        self.returned(message, now)

    def _expire_due(self, message: BrokerMessage, now: float) -> None:
        if (
            self.closed
            or message.home is not self
            or message.state is SCHEDULED
            or message.lock_token is not None  # a locked message expires when its lock ends
            or message.expires_at > now
        ):
            return
        self._expire(message)

    def _expire(self, message: BrokerMessage) -> None:
        if self._settings.dead_lettering_on_message_expiration:
            self.dead_letter(message, TTL_EXPIRED_REASON, TTL_EXPIRED_DESCRIPTION)
        else:
            self.remove(message)

    def _activate_due(self, message: BrokerMessage, now: float) -> None:
        if self.closed or message.home is not self or message.state is not SCHEDULED:
            return
        self.ctx.router.activate(self, message, now)

    def _session_lock_due(self, subject: tuple[Session, uuid.UUID], now: float) -> None:
        session, token = subject
        if self.closed or session.lock_token != token or session.locked_until > now or session.receiver is None:
            return
        self.counters.lock_lost += 1
        session.receiver.lose()

    # -- internals ---------------------------------------------------------------------------

    def _modify(self, message: BrokerMessage, properties: Mapping[str, Any] | None) -> None:
        if properties:
            message.application_properties.update(properties)
            self.ctx.store.put_message(self.key(message), message.record())

    def _set_state(self, message: BrokerMessage, state: MessageState) -> None:
        self._counts[message.state] -= 1
        self._counts[state] += 1
        message.state = state
