"""Sessions (part 2.5): windows, transfer and delivery numbering, links by handle, dispositions.

A session also decides when the application is called and turns what it answers into
frames. Calls whose result is an awaitable hand a coroutine back to the connection,
which awaits it before reading on: frames of one connection are handled in order,
without a task per frame.

Outgoing dispositions and flows are not written at once: they wait in the session until
the connection flushes (after each batch of frames read, or before any other frame of
the session), so a burst of accepted deliveries becomes one disposition range and a
burst of used credit one flow.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .application import InboundHandler, OutboundHandler
from .errors import (
    DECODE_ERROR,
    HANDLE_IN_USE,
    INTERNAL_ERROR,
    NOT_ALLOWED,
    UNATTACHED_HANDLE,
    AmqpError,
    DecodeError,
)
from .frames import encode_disposition, encode_frame, encode_transfer
from .link import (
    UINT_MASK,
    InboundLink,
    IncomingDelivery,
    Link,
    OutboundLink,
    OutgoingDelivery,
    serial_difference,
)
from .outcomes import DeliveryState, Rejected
from .performatives import ROLE_RECEIVER, ROLE_SENDER, Attach, Begin, Detach, Disposition, End, Flow, Transfer

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)

Pending = Coroutine[Any, Any, None] | None
"""What a frame handler returns: work to await before the next frame, or nothing."""


def _failure(error: BaseException, what: str) -> AmqpError:
    """The AMQP error to report for an exception raised by the application."""
    if isinstance(error, AmqpError):
        return error
    if isinstance(error, DecodeError):
        return AmqpError(DECODE_ERROR, str(error))
    log.error("%s failed", what, exc_info=error)
    return AmqpError(INTERNAL_ERROR, f"{what} failed")


class Session:
    """A session the client began. ``links`` maps the client's handles to the links on them."""

    def __init__(self, connection: Connection, channel: int, remote_channel: int, begin: Begin) -> None:
        settings = connection.settings
        self.connection = connection
        self.channel = channel
        self.remote_channel = remote_channel
        self.remote_properties = begin.properties or {}
        self.next_outgoing_id = 0
        self.next_delivery_id = 0
        self.incoming_window = settings.session_window
        self.outgoing_window = settings.session_window
        self.next_incoming_id: int = begin.next_outgoing_id or 0
        self.remote_incoming_window: int = begin.incoming_window or 0
        self.handle_max = min(settings.handle_max, begin.handle_max)
        self.links: dict[int, Link] = {}
        self._handles: dict[int, Link] = {}
        self.unsettled_out: dict[int, OutgoingDelivery] = {}
        self.unsettled_in: dict[int, IncomingDelivery] = {}
        self.ended = False
        self._blocked: deque[tuple[Link, bytes]] = deque()
        self._dispositions: list[list[Any]] = []
        self._flows: dict[Link, None] = {}
        self._session_flow = False
        self._received = 0

    def _reply(self) -> Begin:
        return Begin(
            remote_channel=self.remote_channel,
            next_outgoing_id=self.next_outgoing_id,
            incoming_window=self.incoming_window,
            outgoing_window=self.outgoing_window,
            handle_max=self.handle_max,
        )

    # ---- writing ----------------------------------------------------------------------

    def _emit(self, performative: Any) -> None:
        self.flush()
        self.connection._write(encode_frame(self.channel, performative))

    def _disposition(self, role: bool, delivery_id: int, settled: bool, state: DeliveryState | None) -> None:
        last = self._dispositions[-1] if self._dispositions else None
        if (
            last is not None
            and last[0] == role
            and last[2] == ((delivery_id - 1) & UINT_MASK)
            and last[3] == settled
            and last[4] == state
        ):
            last[2] = delivery_id
        else:
            self._dispositions.append([role, delivery_id, delivery_id, settled, state])
        self.connection._dirty(self)

    def _flow_due(self, link: Link | None = None) -> None:
        if link is None:
            self._session_flow = True
        else:
            self._flows[link] = None
        self.connection._dirty(self)

    def _flow(self, link: Link | None) -> Flow:
        flow = link._flow() if isinstance(link, InboundLink | OutboundLink) else Flow()
        flow.next_incoming_id = self.next_incoming_id
        flow.incoming_window = self.incoming_window
        flow.next_outgoing_id = self.next_outgoing_id
        flow.outgoing_window = self.outgoing_window
        return flow

    def flush(self) -> None:
        """Write the dispositions and flows waiting to be coalesced."""
        write = self.connection._write
        if self._dispositions:
            pending, self._dispositions = self._dispositions, []
            for role, first, last, settled, state in pending:
                write(encode_disposition(self.channel, role, first, last if last != first else None, settled, state))
        if self._flows or self._session_flow:
            links: list[Link | None] = [link for link in self._flows if not link.detach_sent] or [None]
            self._flows.clear()
            self._session_flow = False
            self._received = 0
            for link in links:
                write(encode_frame(self.channel, self._flow(link)))

    def _send_transfer(self, link: Link, tag: bytes, message_format: int, settled: bool, payload: bytes) -> int:
        """Send a delivery in as many frames as the client's max-frame-size needs; its delivery-id."""
        delivery_id = self.next_delivery_id
        self.next_delivery_id = (delivery_id + 1) & UINT_MASK
        self.flush()
        max_frame = self.connection.remote_max_frame_size
        frame = encode_transfer(self.channel, link.handle, delivery_id, tag, message_format, settled, payload)
        if len(frame) <= max_frame:
            self._transmit(link, frame)
            return delivery_id
        transfer = Transfer(handle=link.handle, delivery_id=delivery_id, delivery_tag=tag, settled=settled, more=True)
        transfer.message_format = message_format
        sent = max_frame - len(encode_frame(self.channel, transfer))
        self._transmit(link, encode_frame(self.channel, transfer, payload[:sent]))
        continuation = Transfer(handle=link.handle, more=True)
        room = max_frame - len(encode_frame(self.channel, continuation))
        for start in range(sent, len(payload), room):
            continuation.more = start + room < len(payload)
            self._transmit(link, encode_frame(self.channel, continuation, payload[start : start + room]))
        return delivery_id

    def _transmit(self, link: Link, frame: bytes) -> None:
        if self._blocked or self.remote_incoming_window <= 0:
            self._blocked.append((link, frame))
            return
        self.connection._write(frame)
        self.next_outgoing_id = (self.next_outgoing_id + 1) & UINT_MASK
        self.remote_incoming_window -= 1

    def _release_blocked(self) -> None:
        while self._blocked and self.remote_incoming_window > 0:
            _, frame = self._blocked.popleft()
            self.connection._write(frame)
            self.next_outgoing_id = (self.next_outgoing_id + 1) & UINT_MASK
            self.remote_incoming_window -= 1

    # ---- frames from the client ---------------------------------------------------------

    def _on_attach(self, attach: Attach) -> Pending:
        existing = self.links.get(attach.handle)
        if existing is not None:
            if not existing.detach_sent:
                self.end(AmqpError(HANDLE_IN_USE, f"handle {attach.handle} is already attached"))
                return None
            self._forget(existing)
        if attach.handle > self.handle_max:
            self.end(AmqpError(NOT_ALLOWED, f"handle {attach.handle} exceeds handle-max {self.handle_max}"))
            return None
        handle = next(h for h in range(len(self._handles) + 1) if h not in self._handles)
        link: Link = (InboundLink if attach.role == ROLE_SENDER else OutboundLink)(self, handle, attach)
        self.links[attach.handle] = link
        self._handles[handle] = link
        try:
            result = self.connection.app.on_attach(link)
        except Exception as exc:
            self._refuse(link, _failure(exc, f"attaching {link.name!r}"))
            return None
        if inspect.isawaitable(result):
            return self._attach_later(link, result)
        self._attached(link, result)
        return None

    async def _attach_later(self, link: Link, result: Awaitable[Any]) -> None:
        try:
            handler = await result
        except Exception as exc:
            self._refuse(link, _failure(exc, f"attaching {link.name!r}"))
            return
        self._attached(link, handler)

    def _attached(self, link: Link, handler: Any) -> None:
        expected = InboundHandler if isinstance(link, InboundLink) else OutboundHandler
        if not isinstance(handler, expected):
            self._refuse(link, _failure(TypeError(f"on_attach returned {handler!r}"), "attach"))
            return
        link.handler = handler  # type: ignore[attr-defined]
        link.attached = True
        self._emit(link._reply())
        if isinstance(link, InboundLink) and link.auto_credit:
            link.grant(link.credit_window)

    def _refuse(self, link: Link, error: AmqpError) -> None:
        """Azure's refusal: an attach without our terminus, then a closing detach with the error."""
        reply = link._reply()
        if link.role == ROLE_RECEIVER:
            reply.target = None
        else:
            reply.source = None
        self._emit(reply)
        link._notified = True
        self._emit(Detach(handle=link.handle, closed=True, error=error))
        link.detach_sent = True

    def _on_flow(self, flow: Flow) -> Pending:
        if flow.next_outgoing_id is not None:
            self.next_incoming_id = flow.next_outgoing_id
        base = 0 if flow.next_incoming_id is None else flow.next_incoming_id
        self.remote_incoming_window = serial_difference(base + (flow.incoming_window or 0), self.next_outgoing_id)
        self._release_blocked()
        if flow.handle is None:
            if flow.echo:
                self._flow_due()
            return None
        link = self.links.get(flow.handle)
        if link is None or link.detach_sent:
            return None
        link._on_flow(flow)  # type: ignore[attr-defined]
        if not isinstance(link, OutboundLink) or link.handler is None:
            return None
        try:
            result = link.handler.on_flow(link)
        except Exception as exc:
            link.detach(_failure(exc, f"flow on {link.name!r}"))
            return None
        if inspect.isawaitable(result):
            return self._flow_later(link, result)
        link._complete_drain()
        return None

    async def _flow_later(self, link: OutboundLink, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:
            link.detach(_failure(exc, f"flow on {link.name!r}"))
            return
        link._complete_drain()

    def _on_transfer(self, transfer: Transfer, payload: bytes) -> Pending:
        self.next_incoming_id = (self.next_incoming_id + 1) & UINT_MASK
        self._received += 1
        if self._received >= self.incoming_window // 2:
            self._flow_due()
        link = self.links.get(transfer.handle)
        if link is None:
            self.end(AmqpError(UNATTACHED_HANDLE, f"transfer on handle {transfer.handle}, which is not attached"))
            return None
        if link.detach_sent:
            return None  # in flight when we detached: the spec says to drop it
        if not isinstance(link, InboundLink):
            link.detach(AmqpError(NOT_ALLOWED, "the client cannot send on a link it receives from"))
            return None
        try:
            delivery = link._on_transfer(transfer, payload)
        except AmqpError as error:
            link.detach(error)
            return None
        if delivery is None or delivery.state is not None or link.handler is None:
            return None
        return self._deliver(link.handler, delivery)

    def _deliver(self, handler: InboundHandler, delivery: IncomingDelivery) -> Pending:
        return self._handled(lambda: handler.on_transfer(delivery), delivery.settle, "delivery")

    def _handled(self, call: Callable[[], Any], settle: Callable[[Any], None], what: str) -> Pending:
        """A handler's callback: its outcome, now or once awaited, settles the delivery; a failure rejects it."""
        try:
            result = call()
        except Exception as exc:
            settle(Rejected(error=_failure(exc, what)))
            return None
        if inspect.isawaitable(result):
            return self._settle_later(result, settle)
        if result is not None:
            settle(result)
        return None

    async def _settle_later(self, result: Awaitable[Any], settle: Callable[[Any], None]) -> None:
        try:
            state = await result
        except Exception as exc:
            state = Rejected(error=_failure(exc, "settlement"))
        if state is not None:
            settle(state)

    def _on_disposition(self, disposition: Disposition) -> Pending:
        first = disposition.first
        last = first if disposition.last is None else disposition.last
        count = serial_difference(last, first) + 1
        table: dict[int, Any] = self.unsettled_out if disposition.role == ROLE_RECEIVER else self.unsettled_in
        if count <= 0 or not table:
            return None
        if count <= len(table):
            ids = [i & UINT_MASK for i in range(first, first + count) if (i & UINT_MASK) in table]
        else:
            ids = [i for i in table if serial_difference(i, first) >= 0 and serial_difference(last, i) >= 0]
        if disposition.role == ROLE_SENDER:
            for delivery_id in ids:
                if disposition.settled:
                    del table[delivery_id]
            return None
        pending = []
        for delivery_id in ids:
            work = self._outcome_reported(table[delivery_id], disposition)
            if work is not None:
                pending.append(work)
        if not pending:
            return None
        return self._await_all(pending)

    async def _await_all(self, pending: list[Coroutine[Any, Any, None]]) -> None:
        for work in pending:
            await work

    def _outcome_reported(self, delivery: OutgoingDelivery, disposition: Disposition) -> Pending:
        delivery.remote_state = disposition.state
        if disposition.settled:
            delivery.remote_settled = True
            delivery.settle(disposition.state)
        handler = delivery.link.handler
        if handler is None:
            return None
        return self._handled(lambda: handler.on_disposition(delivery), delivery.settle, "settlement")

    def _on_detach(self, detach: Detach) -> None:
        link = self.links.get(detach.handle)
        if link is None:
            return
        link.detach_received = True
        if not link.detach_sent:
            self._emit(Detach(handle=link.handle, closed=detach.closed))
            self._detached(link)
        self._forget(link)
        link._gone(detach.error)

    def _detach(self, link: Link, error: AmqpError | None, closed: bool) -> None:
        if link.detach_sent or self.ended:
            return
        self._emit(Detach(handle=link.handle, closed=closed, error=error))
        self._detached(link)
        if link.detach_received:
            self._forget(link)
        link._gone(error)

    def _detached(self, link: Link) -> None:
        link.detach_sent = True
        self._flows.pop(link, None)
        if self._blocked:
            self._blocked = deque(item for item in self._blocked if item[0] is not link)
        if isinstance(link, OutboundLink):
            for delivery_id in link.unsettled:
                self.unsettled_out.pop(delivery_id, None)

    def _forget(self, link: Link) -> None:
        if self.links.get(link.remote_handle) is link:
            del self.links[link.remote_handle]
        if self._handles.get(link.handle) is link:
            del self._handles[link.handle]

    # ---- ending -------------------------------------------------------------------------

    def end(self, error: AmqpError | None = None) -> None:
        """End the session from our side; its links are detached (their handlers told)."""
        if self.ended:
            return
        self._emit(End(error=error))
        self.ended = True
        self._blocked.clear()
        self._terminate(error)

    def _on_end(self, end: End) -> None:
        if not self.ended:
            self._emit(End())
            self.ended = True
        self._terminate(end.error)

    def _terminate(self, error: AmqpError | None) -> None:
        for link in list(self._handles.values()):
            link.detach_sent = True
            link._gone(error)
