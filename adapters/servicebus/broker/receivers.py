"""Receivers: what a receiving link (or the management link beside it) drives.

``receive(max_count, timeout)`` returns as soon as at least one message is there, up to
``max_count``: the AMQP layer calls it with the link's credit. Settlement goes through the
receiver too, by lock token. Message locks belong to the entity, not to the link, so a
session-less receiver's locks outlive it (another link or the management link can settle
them); a session receiver's messages are locked by its session lock instead, and are
released with it.

Messages are returned as the broker's own objects, not copies (a copy per delivery would
cost more than the delivery): encode them at once and never change them.

``receive`` returns only once its delivery is durable (the delivery count of a
peek-locked message, the removal of a received-and-deleted one), like every ``async``
method that changes state. ``take`` and the settlements (complete, abandon, defer,
dead-letter) apply at once and queue the change for the store: the caller acknowledges
only after awaiting the store's flush, so settlements arriving together share a commit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from adapters.servicebus.broker.backlog import Backlog
from adapters.servicebus.broker.errors import (
    InvalidOperation,
    MessageLockLost,
    MessagingEntityDisabled,
    MessagingEntityNotFound,
    OperationTimeout,
    SessionCannotBeLocked,
    SessionLockLost,
)
from adapters.servicebus.broker.messages import BrokerMessage
from adapters.servicebus.broker.runtime import CLIENT_DEAD_LETTER
from adapters.servicebus.broker.sessions import Session
from adapters.servicebus.broker.subqueue import SubQueue, new_lock_token
from adapters.servicebus.entities import EntityStatus

RECEIVE_REFUSED = (EntityStatus.DISABLED, EntityStatus.RECEIVE_DISABLED)


class ReceiveMode(Enum):
    PEEK_LOCK = "peek_lock"
    RECEIVE_AND_DELETE = "receive_and_delete"


class Receiver:
    """A session-less receiver on a queue, a subscription or a dead-letter queue."""

    def __init__(self, subqueue: SubQueue, mode: ReceiveMode = ReceiveMode.PEEK_LOCK) -> None:
        self.subqueue = subqueue
        self.mode = mode
        self.closed = False

    @property
    def path(self) -> str:
        return self.subqueue.path

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self, max_count: int, timeout: float | None = None) -> list[BrokerMessage]:
        """Up to ``max_count`` messages; waits up to ``timeout`` seconds (None: until closed) for the first."""
        messages = self.take(max_count)
        if not messages:
            if max_count <= 0 or (timeout is not None and timeout <= 0):
                return []
            messages = await self._backlog().wait(self, max_count, timeout)
        if messages:
            await self._durable(messages)
        return messages

    def take(self, max_count: int) -> list[BrokerMessage]:
        """Up to ``max_count`` of the messages there now, delivered; durable once the store is flushed."""
        self._check_receive()
        if max_count <= 0:
            return []
        messages = self._backlog().take(max_count)
        if messages:
            self.deliver(messages)
        return messages

    async def receive_deferred(self, sequence_numbers: Iterable[int]) -> list[BrokerMessage]:
        """Deferred messages by sequence number, locked (or removed) like any delivery."""
        self._check_receive()
        messages = self.subqueue.deferred(sequence_numbers, self._session_id())
        self.deliver(messages)
        await self._durable(messages)
        return messages

    def peek(self, from_sequence_number: int, max_count: int) -> list[BrokerMessage]:
        """Messages in any state (active, locked, deferred, scheduled) without locking them."""
        self._check_open()
        return self.subqueue.peek(from_sequence_number, max_count, self._session_id())

    # -- settlement --------------------------------------------------------------------------

    def complete(self, lock_token: uuid.UUID) -> None:
        message = self._settle(lock_token)
        self.subqueue.complete(message)

    def abandon(
        self, lock_token: uuid.UUID, properties_to_modify: Mapping[str, Any] | None = None, failed: bool = True
    ) -> None:
        """Unlock. A failed delivery keeps its delivery count (past the maximum, the message is
        dead-lettered); one that is not ``failed`` (AMQP released) does not count."""
        message = self._settle(lock_token)
        self.subqueue.abandon(message, properties_to_modify, failed)

    def defer(self, lock_token: uuid.UUID, properties_to_modify: Mapping[str, Any] | None = None) -> None:
        message = self._settle(lock_token)
        self.subqueue.defer(message, properties_to_modify)

    def dead_letter(
        self,
        lock_token: uuid.UUID,
        reason: str | None = None,
        description: str | None = None,
        properties_to_modify: Mapping[str, Any] | None = None,
    ) -> None:
        if self.subqueue.is_dead_letter:
            raise InvalidOperation("A message in a dead-letter queue cannot be dead-lettered.")
        message = self._settle(lock_token)
        self.subqueue.dead_letter(message, reason, description, properties_to_modify, counted_as=CLIENT_DEAD_LETTER)

    def renew_lock(self, lock_tokens: Iterable[uuid.UUID]) -> list[float]:
        """New expiry times (POSIX seconds) for the locks; MessageLockLost if any of them is gone."""
        messages = [self._locked(token) for token in lock_tokens]
        return [self.subqueue.renew(message) for message in messages]

    def close(self) -> None:
        """Detach: waiting receive calls return empty. Locks taken through this receiver stay."""
        self.closed = True
        self._backlog().close(self)

    # -- what the backlog calls (Taker) -------------------------------------------------------

    def deliver(self, messages: list[BrokerMessage]) -> None:
        if self.mode is ReceiveMode.RECEIVE_AND_DELETE:
            self.subqueue.delete_delivered(messages)
        else:
            self.subqueue.lock_with_expiry(messages)

    def release(self, messages: list[BrokerMessage]) -> None:
        if self.mode is ReceiveMode.RECEIVE_AND_DELETE:
            self.subqueue.restore(messages)
            return
        now = self.subqueue.ctx.clock()
        for message in messages:
            if message.home is self.subqueue and message.lock_token is not None:
                self._forget(message)
                self.subqueue.counters.delivered -= 1  # taken, but never handed to the client
                self.subqueue.unlock(message)
                self.subqueue.returned(message, now)

    # -- internals ---------------------------------------------------------------------------

    def _backlog(self) -> Backlog:
        return self.subqueue.backlog

    def _session_id(self) -> str | None:
        return None

    def _check_open(self) -> None:
        if self.subqueue.closed:
            raise MessagingEntityNotFound(f"The messaging entity '{self.path}' could not be found.")
        if self.closed:
            raise InvalidOperation("The receiver is closed.")
        self.subqueue.ctx.timers.run_due()

    def _check_receive(self) -> None:
        self._check_open()
        owner = self.subqueue.owner
        if owner.properties.status in RECEIVE_REFUSED:
            raise MessagingEntityDisabled(f"Messaging entity '{owner.path}' is currently disabled for receive.")
        owner.properties.accessed_at = datetime.fromtimestamp(self.subqueue.ctx.clock(), UTC)

    def _locked(self, lock_token: uuid.UUID) -> BrokerMessage:
        self._check_open()
        return self.subqueue.locked(lock_token)

    def _settle(self, lock_token: uuid.UUID) -> BrokerMessage:
        message = self._locked(lock_token)
        self._forget(message)
        return message

    def _forget(self, message: BrokerMessage) -> None:
        """A message this receiver delivered is settled or given back."""

    async def _durable(self, messages: list[BrokerMessage]) -> None:
        try:
            await self.subqueue.ctx.store.flush()
        except asyncio.CancelledError:
            self.release(messages)
            raise


class SessionReceiver(Receiver):
    """The holder of one session's lock: receives that session's messages, in order, and its state."""

    def __init__(self, subqueue: SubQueue, session: Session, mode: ReceiveMode) -> None:
        super().__init__(subqueue, mode)
        self.session = session
        self._held: dict[uuid.UUID, BrokerMessage] = {}
        self._lost = False

    @classmethod
    def claim(cls, subqueue: SubQueue, session: Session, mode: ReceiveMode) -> SessionReceiver:
        receiver = cls(subqueue, session, mode)
        session.receiver = receiver
        subqueue.lock_session(session, new_lock_token())
        return receiver

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def locked_until(self) -> float:
        return self.session.locked_until

    def renew_session_lock(self) -> float:
        self._check_open()
        until = self.subqueue.lock_session(self.session, self.session.lock_token or new_lock_token())
        for message in self._held.values():
            message.locked_until = until
        return until

    def get_state(self) -> bytes | None:
        self._check_open()
        return self.session.state

    async def set_state(self, state: bytes | None) -> None:
        self._check_open()
        self.session.state = state
        self.subqueue.ctx.store.put_session_state(self.subqueue.owner.id, self.session.id, state)
        await self.subqueue.ctx.store.flush()

    def renew_lock(self, lock_tokens: Iterable[uuid.UUID]) -> list[float]:
        raise InvalidOperation("The locks of session messages are renewed with the session lock.")

    def close(self) -> None:
        """Detach: the session lock is released and the messages still locked become available again."""
        if not self.closed:
            self.closed = True
            if not self._lost:
                self._end(None)

    def lose(self) -> None:
        """The session lock expired: every pending and later call fails with SessionLockLost."""
        self._lost = True
        self._end(SessionLockLost())

    def deliver(self, messages: list[BrokerMessage]) -> None:
        if self.mode is ReceiveMode.RECEIVE_AND_DELETE:
            self.subqueue.delete_delivered(messages)
            return
        for message in messages:
            self.subqueue.lock(message, self.session.locked_until)
            self._held[message.lock_token] = message  # type: ignore[index]

    def _end(self, error: Exception | None) -> None:
        self.session.backlog.close(self, error)
        held = list(self._held.values())
        self._held.clear()
        self.subqueue.unlock_session(self.session)
        now = self.subqueue.ctx.clock()
        for message in held:
            if message.home is self.subqueue and message.lock_token is not None:
                self.subqueue.unlock(message)
                self.subqueue.returned(message, now)

    def _backlog(self) -> Backlog:
        return self.session.backlog

    def _session_id(self) -> str | None:
        return self.session.id

    def _check_open(self) -> None:
        super()._check_open()
        if self._lost or self.session.receiver is not self:
            raise SessionLockLost()

    def _locked(self, lock_token: uuid.UUID) -> BrokerMessage:
        self._check_open()
        message = self._held.get(lock_token)
        if message is None:
            raise MessageLockLost()
        return message

    def _forget(self, message: BrokerMessage) -> None:
        if message.lock_token is not None:
            self._held.pop(message.lock_token, None)


async def accept_session(
    subqueue: SubQueue, session_id: str | None, mode: ReceiveMode, timeout: float | None
) -> SessionReceiver:
    """Lock a named session, or the next one with messages ready (waiting up to ``timeout`` seconds)."""
    sessions = subqueue.sessions
    if sessions is None:
        raise InvalidOperation(f"The messaging entity '{subqueue.path}' does not require sessions.")
    subqueue.ctx.timers.run_due()
    if session_id is not None:
        session = sessions.open(session_id)
        if session.receiver is not None:
            raise SessionCannotBeLocked(
                f"The requested session '{session_id}' cannot be accepted. It may be locked by another receiver."
            )
        return SessionReceiver.claim(subqueue, session, mode)
    available = sessions.next_available()
    if available is not None:
        return SessionReceiver.claim(subqueue, available, mode)
    if timeout is not None and timeout <= 0:
        raise OperationTimeout("No session was available.")
    return await sessions.wait(lambda s: SessionReceiver.claim(subqueue, s, mode), timeout)
