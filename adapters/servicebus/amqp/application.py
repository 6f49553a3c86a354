"""What the layer above implements: an Application for the connection, a handler per link.

See the package docstring for the contract and an example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from .outcomes import DeliveryState
from .sasl import DEFAULT_MECHANISMS, SaslCredentials

if TYPE_CHECKING:
    from .connection import Connection
    from .errors import AmqpError
    from .link import InboundLink, IncomingDelivery, Link, OutboundLink, OutgoingDelivery


class InboundHandler:
    """Handles a link on which the client sends (the client's sender, our receiver)."""

    def on_transfer(self, delivery: IncomingDelivery) -> DeliveryState | Awaitable[DeliveryState | None] | None:
        """A complete delivery arrived. Return its outcome, an awaitable of it, or ``None``.

        ``None`` means the outcome comes later through ``delivery.settle(outcome)`` (e.g.
        once a durable write commits); an awaitable is awaited before the connection reads
        on, so only short waits belong there. Raising :class:`AmqpError` rejects the
        delivery with that error. Deliveries the client sent settled get no outcome back.
        """
        raise NotImplementedError

    def on_detach(self, link: InboundLink, error: AmqpError | None) -> None:
        """The link is gone (detached by either side, its session ended or the connection closed)."""


class OutboundHandler:
    """Handles a link on which we send (the client's receiver)."""

    def on_flow(self, link: OutboundLink) -> Awaitable[None] | None:
        """The client changed the link's credit (``link.credit``) or asked to drain (``link.drain``).

        Send what is available now with ``link.send``; when this returns (or its awaitable
        completes) a drain still holding credit is completed for you.
        """

    def on_disposition(self, delivery: OutgoingDelivery) -> DeliveryState | Awaitable[DeliveryState | None] | None:
        """The client reported ``delivery.remote_state`` (settled: ``delivery.remote_settled``).

        If the client did not settle it (receive mode "second", i.e. PEEK_LOCK), return the
        outcome actually applied, which is sent back settled (e.g. ``rejected`` with
        ``com.microsoft:message-lock-lost``), or ``None`` to call ``delivery.settle`` later.
        The default confirms what the client asked for.
        """
        return delivery.remote_state

    def on_detach(self, link: OutboundLink, error: AmqpError | None) -> None:
        """The link is gone; ``link.unsettled`` holds the deliveries never settled."""


LinkHandler = InboundHandler | OutboundHandler


class Application(ABC):
    """One per listener; its methods are called for every connection it serves."""

    sasl_mechanisms: Sequence[str] = DEFAULT_MECHANISMS

    def authenticate(self, connection: Connection, credentials: SaslCredentials) -> bool:
        """Accept (``True``) or refuse the SASL exchange; the default accepts everyone."""
        return True

    def on_open(self, connection: Connection) -> Awaitable[None] | None:
        """The client's open arrived (``connection.remote_open``). Raise :class:`AmqpError` to refuse."""

    @abstractmethod
    def on_attach(self, link: Link) -> LinkHandler | Awaitable[LinkHandler]:
        """The client attached ``link`` (an :class:`InboundLink` or :class:`OutboundLink`).

        Return its handler; raise :class:`AmqpError` to refuse it (the client sees the
        condition and description). Before returning, the reply's ``link.source``,
        ``link.target``, ``link.properties`` and ``link.max_message_size`` may be changed.
        """

    def durable(self) -> Awaitable[None] | None:
        """What makes the changes of the frames just handled durable, or ``None`` if nothing to do.

        The connection awaits it after each read's frames and only then writes what they
        produced, so an outcome returned at once (an accepted send, a confirmed settlement)
        reaches the client only after the change behind it is durable, and the frames of one
        read share that wait. If it raises, the connection is dropped unanswered.
        """
        return None

    def on_close(self, connection: Connection, error: AmqpError | None) -> None:
        """The connection ended (every link's ``on_detach`` has been called)."""
