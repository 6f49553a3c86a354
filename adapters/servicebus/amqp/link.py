"""Links (part 2.6) seen from the broker, and the deliveries that travel on them.

An :class:`InboundLink` is one on which the client sends (it attached as sender); an
:class:`OutboundLink` one on which we send. The engine does the bookkeeping the spec asks
for (delivery-count, link-credit, multi-frame assembly, settlement); the handler sees
whole deliveries and credit changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import MESSAGE_SIZE_EXCEEDED, TRANSFER_LIMIT_EXCEEDED, AmqpError
from .message import BATCH_MESSAGE_FORMAT, Message, split_batch
from .outcomes import DeliveryState, Rejected
from .performatives import (
    RCV_FIRST,
    RCV_SECOND,
    ROLE_RECEIVER,
    ROLE_SENDER,
    SND_MIXED,
    SND_SETTLED,
    Attach,
    Flow,
    Transfer,
)
from .terminus import Source, Target

if TYPE_CHECKING:
    from .application import InboundHandler, OutboundHandler
    from .connection import Connection
    from .session import Session

log = logging.getLogger(__name__)

UINT_MASK = 0xFFFFFFFF


def serial_difference(a: int, b: int) -> int:
    """``a - b`` for 32-bit sequence numbers that wrap (RFC 1982), as the spec's counts do."""
    return ((a - b + 0x80000000) & UINT_MASK) - 0x80000000


class LinkDetached(Exception):
    """The link (or its session or connection) is no longer attached."""


class NoCredit(Exception):
    """The client has not granted credit for another delivery on this link."""


class Link:
    """An attached link. ``source``/``target``/``properties`` are what our attach reply carries."""

    role: bool

    def __init__(self, session: Session, handle: int, attach: Attach) -> None:
        self.session = session
        self.name: str = attach.name
        self.handle = handle
        self.remote_handle: int = attach.handle
        self.source: Source | None = attach.source if isinstance(attach.source, Source) else None
        self.target: Target | None = attach.target if isinstance(attach.target, Target) else None
        self.snd_settle_mode: int = attach.snd_settle_mode
        self.rcv_settle_mode: int = attach.rcv_settle_mode
        self.remote_properties: Mapping[str, Any] = attach.properties or {}
        self.remote_max_message_size: int | None = attach.max_message_size or None
        self.desired_capabilities: list[str] = list(attach.desired_capabilities or ())
        self.properties: dict[str, Any] | None = None
        self.offered_capabilities: list[str] | None = None
        self.max_message_size: int | None = session.connection.settings.max_message_size
        self.attached = False
        self.detach_sent = False
        self.detach_received = False
        self._notified = False

    @property
    def connection(self) -> Connection:
        return self.session.connection

    @property
    def address(self) -> str | None:
        """The entity the client names: the target's address for inbound links, the source's for outbound."""
        terminus = self.target if self.role == ROLE_RECEIVER else self.source
        return terminus.address if terminus is not None else None

    def detach(self, error: AmqpError | None = None, *, closed: bool = True) -> None:
        """Detach from our side (the client is told ``error``); the handler's ``on_detach`` is called."""
        self.session._detach(self, error, closed)

    def _reply(self) -> Attach:
        return Attach(
            name=self.name,
            handle=self.handle,
            role=self.role,
            snd_settle_mode=self.snd_settle_mode,
            rcv_settle_mode=self.rcv_settle_mode,
            source=self.source,
            target=self.target,
            initial_delivery_count=0 if self.role == ROLE_SENDER else None,
            max_message_size=self.max_message_size,
            offered_capabilities=self.offered_capabilities,
            properties=self.properties,
        )

    def _gone(self, error: AmqpError | None) -> None:
        """Tell the handler once that the link is gone; a handler's failure must not stop the others."""
        if self._notified:
            return
        self._notified = True
        handler = getattr(self, "handler", None)
        if handler is None:
            return
        try:
            handler.on_detach(self, error)
        except Exception:
            log.exception("on_detach of link %r failed", self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, address={self.address!r})"


class IncomingDelivery:
    """A complete delivery the client sent on an inbound link."""

    __slots__ = ("link", "delivery_id", "tag", "message_format", "settled", "payload", "_message", "state")

    def __init__(
        self, link: InboundLink, delivery_id: int, tag: bytes, message_format: int, settled: bool, payload: bytes
    ) -> None:
        self.link = link
        self.delivery_id = delivery_id
        self.tag = tag
        self.message_format = message_format
        self.settled = settled
        """The client sent it settled: it wants no outcome."""
        self.payload = payload
        self._message: Message | None = None
        self.state: DeliveryState | None = None
        """The outcome we gave it, once given."""

    @property
    def message(self) -> Message:
        """The message (decoded on first use; raises :class:`DecodeError` if malformed)."""
        if self._message is None:
            self._message = Message.decode(self.payload)
        return self._message

    def messages(self) -> list[Message]:
        """The messages it carries: one, or each message of a Service Bus batch."""
        if self.message_format == BATCH_MESSAGE_FORMAT:
            return split_batch(self.message)
        return [self.message]

    def settle(self, state: DeliveryState) -> None:
        """Give the delivery its outcome (sent as a disposition unless the client settled it)."""
        if self.state is not None:
            return
        self.state = state
        if self.settled or self.link.detach_sent:
            return
        self.link.session._disposition(ROLE_RECEIVER, self.delivery_id, self.link.rcv_settle_mode == RCV_FIRST, state)
        if self.link.rcv_settle_mode == RCV_SECOND:
            self.link.session.unsettled_in[self.delivery_id] = self


class InboundLink(Link):
    """A link the client sends on. Credit is granted automatically unless ``auto_credit`` is off."""

    role = ROLE_RECEIVER

    def __init__(self, session: Session, handle: int, attach: Attach) -> None:
        super().__init__(session, handle, attach)
        self.handler: InboundHandler | None = None
        # Ours to choose as the receiver: settle at once, as Service Bus does, whatever the
        # client asked for (the Python SDK asks for "second" and only listens to settled outcomes).
        self.rcv_settle_mode = RCV_FIRST
        self.delivery_count: int = attach.initial_delivery_count or 0
        self.credit = 0
        self.credit_window = session.connection.settings.link_credit
        self.auto_credit = True
        self._partial: _Partial | None = None

    def grant(self, credit: int) -> None:
        """Let the client send ``credit`` more deliveries (replacing any credit left)."""
        self.credit = credit
        self.session._flow_due(self)

    def _flow(self) -> Flow:
        return Flow(handle=self.handle, delivery_count=self.delivery_count, link_credit=self.credit)

    def _on_flow(self, flow: Flow) -> None:
        if flow.delivery_count is not None:
            # The client may have advanced its count (e.g. after draining): the credit limit stays put.
            self.credit = max(0, serial_difference(self.delivery_count + self.credit, flow.delivery_count))
            self.delivery_count = flow.delivery_count
        if flow.echo:
            self.session._flow_due(self)

    def _on_transfer(self, transfer: Transfer, payload: bytes) -> IncomingDelivery | None:
        """Account for one transfer frame; the delivery once its last frame arrived."""
        partial = self._partial
        if partial is None:
            if self.credit <= 0:
                raise AmqpError(TRANSFER_LIMIT_EXCEEDED, "transfer sent without link credit")
            self.credit -= 1
            self.delivery_count = (self.delivery_count + 1) & UINT_MASK
            if self.auto_credit and self.credit < self.credit_window // 2:
                self.credit = self.credit_window
                self.session._flow_due(self)
            if transfer.delivery_id is None:
                raise AmqpError(TRANSFER_LIMIT_EXCEEDED, "the first transfer of a delivery needs a delivery-id")
            if not transfer.more and not transfer.aborted:
                return self._complete(transfer, transfer.delivery_id, payload)
            partial = self._partial = _Partial(transfer)
        if transfer.aborted:
            self._partial = None
            return None
        partial.add(payload, self.max_message_size)
        if transfer.settled:
            partial.settled = True
        if transfer.more:
            return None
        self._partial = None
        return self._complete(partial.first, partial.delivery_id, partial.payload(), partial.settled, partial.oversize)

    def _complete(
        self,
        first: Transfer,
        delivery_id: int,
        payload: bytes,
        settled: bool | None = None,
        oversize: bool | None = None,
    ) -> IncomingDelivery:
        settled = bool(first.settled) if settled is None else settled
        delivery = IncomingDelivery(
            self, delivery_id, first.delivery_tag or b"", first.message_format or 0, settled, payload
        )
        limit = self.max_message_size
        if oversize or (oversize is None and limit and len(payload) > limit):
            error = AmqpError(MESSAGE_SIZE_EXCEEDED, f"the message exceeds the limit of {limit} bytes")
            if settled:
                raise error  # no outcome can say so: the link goes
            delivery.payload = b""
            delivery.settle(Rejected(error=error))
        return delivery


class _Partial:
    """A delivery whose transfers are still arriving (more=true)."""

    __slots__ = ("first", "delivery_id", "chunks", "size", "settled", "oversize")

    def __init__(self, first: Transfer) -> None:
        self.first = first
        self.delivery_id: int = first.delivery_id  # type: ignore[assignment]
        self.chunks: list[bytes] = []
        self.size = 0
        self.settled = bool(first.settled)
        self.oversize = False

    def add(self, payload: bytes, limit: int | None) -> None:
        self.size += len(payload)
        if limit and self.size > limit:
            # Keep counting, stop buffering: an oversized message must not cost its size in memory.
            self.oversize = True
            self.chunks.clear()
        elif not self.oversize:
            self.chunks.append(payload)

    def payload(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


class OutgoingDelivery:
    """A delivery we sent on an outbound link, until it is settled."""

    __slots__ = ("link", "delivery_id", "tag", "context", "remote_state", "remote_settled", "settled")

    def __init__(self, link: OutboundLink, delivery_id: int, tag: bytes, context: Any) -> None:
        self.link = link
        self.delivery_id = delivery_id
        self.tag = tag
        self.context = context
        """Whatever the sender attached to it (e.g. the stored message it came from)."""
        self.remote_state: DeliveryState | None = None
        self.remote_settled = False
        self.settled = False

    def settle(self, state: DeliveryState | None) -> None:
        """Settle it with the outcome actually applied (tells the client unless it settled first)."""
        if self.settled:
            return
        self.settled = True
        self.link.unsettled.pop(self.delivery_id, None)
        session = self.link.session
        session.unsettled_out.pop(self.delivery_id, None)
        if not self.remote_settled and not self.link.detach_sent:
            session._disposition(ROLE_SENDER, self.delivery_id, True, state)


class OutboundLink(Link):
    """A link we send on: ``credit`` says how many more deliveries the client accepts now."""

    role = ROLE_SENDER

    def __init__(self, session: Session, handle: int, attach: Attach) -> None:
        super().__init__(session, handle, attach)
        self.handler: OutboundHandler | None = None
        self.delivery_count = 0
        self.credit = 0
        self.drain = False
        self.unsettled: dict[int, OutgoingDelivery] = {}

    def send(
        self,
        message: Message | bytes,
        *,
        tag: bytes,
        settled: bool = False,
        message_format: int = 0,
        context: Any = None,
    ) -> OutgoingDelivery:
        """Send one delivery; uses one credit. ``settled`` only counts in mixed settle mode.

        Service Bus uses the message's lock token (16 bytes, ``UUID.bytes_le``) as ``tag``.
        Raises :class:`NoCredit` without credit and :class:`LinkDetached` once detached.
        """
        if not self.attached or self.detach_sent:
            raise LinkDetached(f"link {self.name!r} is not attached")
        if self.credit <= 0:
            raise NoCredit(f"link {self.name!r} has no credit")
        if self.snd_settle_mode != SND_MIXED:
            settled = self.snd_settle_mode == SND_SETTLED
        payload = message.encode() if isinstance(message, Message) else message
        self.credit -= 1
        self.delivery_count = (self.delivery_count + 1) & UINT_MASK
        session = self.session
        delivery_id = session._send_transfer(self, tag, message_format, settled, payload)
        delivery = OutgoingDelivery(self, delivery_id, tag, context)
        if settled:
            delivery.settled = True
        else:
            self.unsettled[delivery.delivery_id] = delivery
            session.unsettled_out[delivery.delivery_id] = delivery
        return delivery

    def _flow(self) -> Flow:
        return Flow(handle=self.handle, delivery_count=self.delivery_count, link_credit=self.credit, drain=self.drain)

    def _on_flow(self, flow: Flow) -> None:
        if flow.link_credit is not None:
            remote_count = self.delivery_count if flow.delivery_count is None else flow.delivery_count
            self.credit = max(0, serial_difference(remote_count + flow.link_credit, self.delivery_count))
        self.drain = flow.drain
        if flow.echo:
            self.session._flow_due(self)

    def _complete_drain(self) -> None:
        """After a drain request: use up the credit left so the client knows nothing more is coming."""
        if self.drain and self.credit > 0 and not self.detach_sent:
            self.delivery_count = (self.delivery_count + self.credit) & UINT_MASK
            self.credit = 0
            self.session._flow_due(self)
