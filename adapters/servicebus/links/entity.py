"""A client's senders to queues and topics, and its receivers on queues, subscriptions,
dead-letter queues and sessions.

Sends and settlements are applied to the broker as their frames arrive and answered at
once: the connection writes the answers only after the application's durability barrier
(one commit for everything a read brought). A receiver link hands over what is there when
the client gives credit, then a task waits for more, as many as the credit allows; in
peek-lock mode the delivery tag is the lock token and the client's disposition settles the
message (accepted: complete, modified: abandon or defer, released: return uncounted,
rejected: dead-letter).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from adapters.servicebus.amqp import (
    Accepted,
    AmqpError,
    DeliveryState,
    InboundHandler,
    InboundLink,
    IncomingDelivery,
    Modified,
    OutboundHandler,
    OutboundLink,
    OutgoingDelivery,
    Rejected,
    Released,
)
from adapters.servicebus.amqp.errors import DecodeError
from adapters.servicebus.amqp.link import LinkDetached, NoCredit
from adapters.servicebus.broker import Broker, BrokerError, BrokerMessage, ReceiveMode, Receiver, SessionReceiver
from adapters.servicebus.links.convert import encode_delivery, text, to_broker
from adapters.servicebus.links.errors import amqp_error, rejected_for

log = logging.getLogger(__name__)

DEAD_LETTER = "com.microsoft:dead-letter"
_DEAD_LETTER_REASON = "DeadLetterReason"
_DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"
BURST = 8
"""Deliveries encoded per turn of the event loop: a settlement arriving meanwhile waits for at most
one burst (about 0.3 ms) to be answered, and the client decodes one burst while the next is encoded."""


class EntitySender(InboundHandler):
    """The client sends to a queue or topic."""

    def __init__(self, broker: Broker, path: str) -> None:
        self.broker = broker
        self.path = path

    def on_transfer(self, delivery: IncomingDelivery) -> DeliveryState:
        try:
            self.broker.send_now(self.path, [to_broker(message) for message in delivery.messages()])
        except DecodeError as error:
            return rejected_for(AmqpError("amqp:decode-error", str(error)))
        except BrokerError as error:
            return rejected_for(amqp_error(error))
        return Accepted()

    def on_detach(self, link: InboundLink, error: AmqpError | None) -> None:
        """Sends in flight finish: what the broker acknowledged stays sent."""


class EntityReceiver(OutboundHandler):
    """The client receives from a queue, a subscription, a dead-letter queue or a session."""

    def __init__(self, receiver: Receiver, link: OutboundLink) -> None:
        self.receiver = receiver
        self.link = link
        self.peek_lock = receiver.mode is ReceiveMode.PEEK_LOCK
        self._pump: asyncio.Task[None] | None = None

    # --- delivering ---------------------------------------------------------------------

    def on_flow(self, link: OutboundLink) -> None:
        if self._pump is not None and not self._pump.done():
            if not link.drain:
                return  # the waiting task takes the new credit into account
            self._pump.cancel()
            self._pump = None
        if link.credit <= 0:
            return
        # What is there now goes out with this read's answers; on a drain, the engine then
        # completes it. Otherwise a task waits for what arrives later.
        try:
            self._send(self.receiver.take(link.credit if link.drain else min(link.credit, BURST)))
        except BrokerError as error:
            link.detach(amqp_error(error))
            return
        if not link.drain and link.credit > 0 and link.attached and not link.detach_sent:
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        link = self.link
        try:
            while link.credit > 0 and link.attached and not link.detach_sent:
                messages = await self.receiver.receive(min(link.credit, BURST))
                if not messages:
                    return
                self._send(messages)
                # The connection writes this burst while the next is encoded, and reads between.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except BrokerError as error:
            link.detach(amqp_error(error))
        except Exception:
            log.exception("receiver pump of %s failed", self.receiver.path)
            link.detach(AmqpError("amqp:internal-error", "The receiver failed."))

    def _send(self, messages: list[BrokerMessage]) -> None:
        for index, message in enumerate(messages):
            try:
                tag = message.lock_token.bytes_le if self.peek_lock and message.lock_token else _tag(message)
                self.link.send(
                    encode_delivery(message, locked=self.peek_lock),
                    tag=tag,
                    settled=not self.peek_lock,
                    context=message.lock_token,
                )
            except (NoCredit, LinkDetached):
                self.receiver.release(messages[index:])
                return

    # --- settling -----------------------------------------------------------------------

    def on_disposition(self, delivery: OutgoingDelivery) -> Any:
        lock_token = delivery.context
        if not self.peek_lock or lock_token is None:
            return delivery.remote_state
        return self._apply(lock_token, delivery.remote_state)

    def _apply(self, lock_token: uuid.UUID, state: DeliveryState | None) -> DeliveryState:
        receiver = self.receiver
        try:
            if isinstance(state, Accepted):
                receiver.complete(lock_token)
            elif isinstance(state, Rejected):
                info = (state.error.info if state.error is not None else None) or {}
                receiver.dead_letter(
                    lock_token,
                    text(info.get(_DEAD_LETTER_REASON)),
                    text(info.get(_DEAD_LETTER_DESCRIPTION)),
                )
                # The echo confirms the dead-lettering: a rejected outcome with an error would tell
                # the client the settlement failed (that is how failures are reported).
                return Rejected()
            elif isinstance(state, Modified):
                changes = dict(state.message_annotations or {})
                if state.undeliverable_here:
                    receiver.defer(lock_token, changes or None)
                else:
                    # Only delivery-failed makes it a failed attempt (AMQP 3.4.5): the SDK's abandon sets it.
                    receiver.abandon(lock_token, changes or None, failed=bool(state.delivery_failed))
            elif isinstance(state, Released):
                # Released (AMQP 3.4.4): back unchanged, the delivery count not incremented.
                receiver.abandon(lock_token, failed=False)
            else:
                return state  # type: ignore[return-value]
        except BrokerError as error:
            return rejected_for(amqp_error(error))
        return state

    def on_detach(self, link: OutboundLink, error: AmqpError | None) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if isinstance(self.receiver, SessionReceiver):
            with contextlib.suppress(BrokerError):
                self.receiver.close()
        else:
            self.receiver.close()


def _tag(message: BrokerMessage) -> bytes:
    return message.sequence_number.to_bytes(8, "big")
