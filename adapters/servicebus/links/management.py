"""The ``<entity>/$management`` node: what the SDK does over request/response rather than links.

Lock renewal, receiving deferred messages by sequence number, peeking, scheduling and
cancelling, settlement by lock token (for deferred messages, or when the receiving link is
gone), and session locks and state. Requests carry ``operation`` in their application
properties and a map body; replies carry ``statusCode``/``statusDescription`` (and
``errorCondition`` on failure) and a map body. Settlements are applied at once; the
connection's durability barrier makes them durable before the reply goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.servicebus.amqp import Accepted, DeliveryState, InboundHandler, IncomingDelivery, Message
from adapters.servicebus.amqp.types import Array, Long, Symbol
from adapters.servicebus.broker import Broker, BrokerError, ReceiveMode, Receiver
from adapters.servicebus.links.convert import encode_delivery, timestamp, to_broker
from adapters.servicebus.links.replies import reply

Handler = Callable[["ManagementNode", Mapping[str, Any]], Awaitable[Any]]


class ManagementNode(InboundHandler):
    """One entity's ``$management`` node on one connection."""

    def __init__(self, broker: Broker, path: str) -> None:
        self.broker = broker
        self.path = path
        self._peek_receiver: Receiver | None = None

    def on_transfer(self, delivery: IncomingDelivery) -> Awaitable[DeliveryState]:
        return self._serve(delivery)

    async def _serve(self, delivery: IncomingDelivery) -> DeliveryState:
        request = delivery.message
        properties = request.application_properties or {}
        operation = str(properties.get("operation") or "")
        handler = _OPERATIONS.get(operation)
        body = request.value if isinstance(request.value, Mapping) else {}
        if handler is None:
            _fail(delivery, request, 400, "amqp:not-implemented", f"The operation '{operation}' is not supported.")
            return Accepted()
        try:
            status, value = await handler(self, body)
        except BrokerError as error:
            _fail(delivery, request, error.status, error.condition, error.message)
            return Accepted()
        except (KeyError, TypeError, ValueError) as error:
            _fail(delivery, request, 400, "com.microsoft:argument-error", f"The request is invalid: {error}")
            return Accepted()
        reply(delivery.link, request, status, "OK" if status == 200 else "No Content", value=value)
        return Accepted()

    # --- operations ---------------------------------------------------------------------

    def _receiver(self, body: Mapping[str, Any], mode: ReceiveMode = ReceiveMode.PEEK_LOCK) -> Receiver:
        session_id = body.get("session-id")
        if session_id:
            return self.broker.session_receiver(self.path, str(session_id))
        return self.broker.receiver(self.path, mode)

    async def renew_lock(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        tokens = [_uuid(token) for token in body["lock-tokens"]]
        receiver = self._receiver(body)
        try:
            expirations = receiver.renew_lock(tokens)
        finally:
            _close_unless_session(receiver, body)
        return 200, {Symbol("expirations"): Array("timestamp", [timestamp(e) for e in expirations])}

    async def receive_by_sequence_number(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        mode = ReceiveMode.RECEIVE_AND_DELETE if body.get("receiver-settle-mode") == 0 else ReceiveMode.PEEK_LOCK
        receiver = self._receiver(body, mode)
        try:
            messages = await receiver.receive_deferred(int(n) for n in body["sequence-numbers"])
        finally:
            _close_unless_session(receiver, body)
        locked = mode is ReceiveMode.PEEK_LOCK
        entries = []
        for message in messages:
            entry: dict[Any, Any] = {Symbol("message"): encode_delivery(message, locked=locked)}
            if locked and message.lock_token is not None:
                entry[Symbol("lock-token")] = message.lock_token
            entries.append(entry)
        return 200, {Symbol("messages"): entries}

    async def peek_message(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        receiver = self._receiver(body, ReceiveMode.RECEIVE_AND_DELETE) if body.get("session-id") else None
        if receiver is None:
            receiver = self._peek_receiver = self._peek_receiver or self.broker.receiver(self.path)
        messages = receiver.peek(int(body.get("from-sequence-number", 0)), int(body.get("message-count", 1)))
        if not messages:
            return 204, None
        encoded = [{Symbol("message"): encode_delivery(m, locked=False, peeked=True)} for m in messages]
        return 200, {Symbol("messages"): encoded}

    async def schedule_message(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        sequence_numbers: list[int] = []
        for entry in body["messages"]:
            message = to_broker(Message.decode(bytes(entry["message"])))
            when = message.scheduled_enqueue_time
            if when is None:
                raise ValueError("a scheduled message needs x-opt-scheduled-enqueue-time")
            sequence_numbers += await self.broker.schedule(self.path, [message], when)
        return 200, {Symbol("sequence-numbers"): Array("long", [Long(n) for n in sequence_numbers])}

    async def cancel_scheduled_message(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        await self.broker.cancel_scheduled(self.path, [int(n) for n in body["sequence-numbers"]])
        return 200, None

    async def update_disposition(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        status = str(body["disposition-status"])
        changes = dict(body.get("properties-to-modify") or {}) or None
        receiver = self._receiver(body)
        try:
            for token in body["lock-tokens"]:
                lock_token = _uuid(token)
                if status == "completed":
                    receiver.complete(lock_token)
                elif status == "abandoned":
                    receiver.abandon(lock_token, changes)
                elif status == "defered":
                    receiver.defer(lock_token, changes)
                elif status == "suspended":
                    receiver.dead_letter(
                        lock_token, body.get("deadletter-reason"), body.get("deadletter-description"), changes
                    )
                else:
                    raise ValueError(f"unknown disposition-status {status!r}")
        finally:
            _close_unless_session(receiver, body)
        return 200, None

    async def renew_session_lock(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        receiver = self.broker.session_receiver(self.path, str(body["session-id"]))
        return 200, {Symbol("expiration"): timestamp(receiver.renew_session_lock())}

    async def get_session_state(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        receiver = self.broker.session_receiver(self.path, str(body["session-id"]))
        return 200, {Symbol("session-state"): receiver.get_state()}

    async def set_session_state(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        receiver = self.broker.session_receiver(self.path, str(body["session-id"]))
        state = body.get("session-state")
        await receiver.set_state(bytes(state) if state is not None else None)
        return 200, None


_OPERATIONS: dict[str, Handler] = {
    "com.microsoft:renew-lock": ManagementNode.renew_lock,
    "com.microsoft:receive-by-sequence-number": ManagementNode.receive_by_sequence_number,
    "com.microsoft:peek-message": ManagementNode.peek_message,
    "com.microsoft:schedule-message": ManagementNode.schedule_message,
    "com.microsoft:cancel-scheduled-message": ManagementNode.cancel_scheduled_message,
    "com.microsoft:update-disposition": ManagementNode.update_disposition,
    "com.microsoft:renew-session-lock": ManagementNode.renew_session_lock,
    "com.microsoft:get-session-state": ManagementNode.get_session_state,
    "com.microsoft:set-session-state": ManagementNode.set_session_state,
}


def _fail(delivery: IncomingDelivery, request: Message, status: int, condition: str, description: str) -> None:
    reply(
        delivery.link,
        request,
        status,
        description,
        application_properties={"errorCondition": Symbol(condition)},
    )


def _close_unless_session(receiver: Receiver, body: Mapping[str, Any]) -> None:
    """A receiver made for one request is closed after it (a session's belongs to its link)."""
    if not body.get("session-id"):
        receiver.close()


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    return uuid.UUID(str(value))
