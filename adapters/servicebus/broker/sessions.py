"""Sessions of a session-enabled queue or subscription: their backlogs, locks, states and who waits for one.

A session exists while it has messages, a state or a receiver holding its lock; after that
it is forgotten, so an entity that saw a million session ids does not keep a million objects.
"Accept the next available session" takes the first session that has a ready message and no
receiver, in the order they became so; a call that finds none waits and is handed the next
session that becomes available, first come first served.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from adapters.servicebus.broker.backlog import Backlog
from adapters.servicebus.broker.errors import OperationTimeout
from adapters.servicebus.broker.messages import BrokerMessage

if TYPE_CHECKING:
    from adapters.servicebus.broker.receivers import SessionReceiver


class Session:
    __slots__ = ("id", "backlog", "state", "receiver", "lock_token", "locked_until", "message_count")

    def __init__(self, session_id: str, messages: Mapping[int, BrokerMessage]) -> None:
        self.id = session_id
        self.backlog = Backlog(messages)
        self.state: bytes | None = None
        self.receiver: SessionReceiver | None = None
        self.lock_token: uuid.UUID | None = None
        self.locked_until = 0.0
        self.message_count = 0
        """Messages of this session in the entity, in any state."""


Claim = Callable[[Session], "SessionReceiver"]


class _Acceptor:
    __slots__ = ("claim", "future")

    def __init__(self, claim: Claim, future: asyncio.Future[SessionReceiver]) -> None:
        self.claim = claim
        self.future = future


class SessionTable:
    def __init__(self, messages: Mapping[int, BrokerMessage]) -> None:
        self._messages = messages
        self.sessions: dict[str, Session] = {}
        self._available: dict[str, None] = {}
        """Ids of sessions with a ready message and no receiver, oldest first (an ordered set)."""
        self._acceptors: deque[_Acceptor] = deque()

    def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def open(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session(session_id, self._messages)
        return session

    def added(self, message: BrokerMessage) -> Session:
        session = self.open(message.session_id or "")
        session.message_count += 1
        return session

    def removed(self, message: BrokerMessage) -> None:
        session = self.sessions.get(message.session_id or "")
        if session is not None:
            session.backlog.discard(message)
            session.message_count -= 1
            self.forget_if_idle(session)

    def ready(self, message: BrokerMessage) -> None:
        session = self.open(message.session_id or "")
        session.backlog.push(message)
        if session.receiver is None:
            self.offer(session)

    def offer(self, session: Session) -> None:
        """A session has ready messages and no receiver: hand it to a waiting acceptor, or list it."""
        if not len(session.backlog):
            self.forget_if_idle(session)
            return
        while self._acceptors:
            acceptor = self._acceptors.popleft()
            if not acceptor.future.done():
                acceptor.future.set_result(acceptor.claim(session))
                return
        self._available[session.id] = None

    def next_available(self) -> Session | None:
        while self._available:
            session_id = next(iter(self._available))
            del self._available[session_id]
            session = self.sessions.get(session_id)
            if session is not None and session.receiver is None and len(session.backlog):
                return session
        return None

    def unlocked(self, session: Session) -> None:
        self._available.pop(session.id, None)
        self.offer(session)

    def forget_if_idle(self, session: Session) -> None:
        if session.receiver is None and session.message_count <= 0 and session.state is None:
            self.sessions.pop(session.id, None)
            self._available.pop(session.id, None)

    async def wait(self, claim: Claim, timeout: float | None) -> SessionReceiver:
        """The next session that becomes available, or OperationTimeout after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        acceptor = _Acceptor(claim, loop.create_future())
        self._acceptors.append(acceptor)
        timer = loop.call_later(timeout, _time_out, acceptor.future) if timeout is not None else None
        try:
            return await acceptor.future
        except asyncio.CancelledError:
            future = acceptor.future
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close()  # handed a session the caller will never see
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def close(self, error: Exception) -> None:
        """Fail every waiting acceptor (the entity is gone)."""
        for acceptor in self._acceptors:
            if not acceptor.future.done():
                acceptor.future.set_exception(error)
        self._acceptors.clear()


def _time_out(future: asyncio.Future[SessionReceiver]) -> None:
    if not future.done():
        future.set_exception(OperationTimeout("No session was available within the timeout."))
