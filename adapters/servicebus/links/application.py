"""One Service Bus namespace as an AMQP application: which handler serves each link.

SASL accepts any client (the official emulator's connection strings use anonymous/PLAIN);
what a connection may touch is decided by the SAS tokens it put on ``$cbs``: every attach
to an entity or its ``$management`` node needs a token whose audience covers the entity,
else the attach is refused with ``amqp:unauthorized-access``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from adapters.servicebus.amqp import (
    SND_SETTLED,
    AmqpError,
    Application,
    InboundLink,
    Link,
    OutboundLink,
)
from adapters.servicebus.amqp.application import LinkHandler
from adapters.servicebus.amqp.types import Long, Symbol
from adapters.servicebus.broker import Broker, BrokerError, ReceiveMode
from adapters.servicebus.links.cbs import CbsNode, authorized
from adapters.servicebus.links.entity import EntityReceiver, EntitySender
from adapters.servicebus.links.errors import amqp_error
from adapters.servicebus.links.management import ManagementNode
from adapters.servicebus.links.replies import ReplyLink

SESSION_FILTER = Symbol("com.microsoft:session-filter")
LOCKED_UNTIL_UTC = Symbol("com.microsoft:locked-until-utc")
_TIMEOUT = "com.microsoft:timeout"
_DOTNET_EPOCH_TICKS = 621355968000000000
"""``DateTimeOffset`` ticks (100 ns) at the Unix epoch: how Service Bus writes a session's lock expiry."""
DEFAULT_ACCEPT_TIMEOUT = 60.0


def entity_path(address: str | None) -> str:
    """``amqps://host/queue``, ``sb://host/topic/Subscriptions/s`` or ``queue``: the entity path."""
    if not address:
        return ""
    if "://" in address:
        address = urlsplit(address).path
    return address.strip("/")


class ServiceBusApplication(Application):
    def __init__(self, broker: Broker, keys: Callable[[], Mapping[str, str]]) -> None:
        self.broker = broker
        self.keys = keys

    def durable(self) -> Awaitable[None] | None:
        """Sends and settlements are applied as their frames arrive; one commit covers a read's worth."""
        store = self.broker.store
        return None if store.flush_now() else store.flush()

    async def on_attach(self, link: Link) -> LinkHandler:
        path = entity_path(link.address)
        if path == "$cbs":
            return CbsNode(self.keys) if isinstance(link, InboundLink) else ReplyLink(link)  # type: ignore[arg-type]
        node = path.endswith("/$management")
        entity = path.removesuffix("/$management") if node else path
        if not authorized(link.connection, entity):
            claim = "Send" if isinstance(link, InboundLink) and not node else "Listen"
            raise AmqpError(
                "amqp:unauthorized-access",
                f"Unauthorized access. '{claim}' claim(s) are required to perform this operation. "
                f"Resource: 'sb://{entity}'.",
            )
        try:
            if node:
                return ManagementNode(self.broker, entity) if isinstance(link, InboundLink) else ReplyLink(link)  # type: ignore[arg-type]
            if isinstance(link, InboundLink):
                target = self.broker.catalog.sender_entity(entity)
                limit = getattr(target.properties, "max_message_size_in_kilobytes", None)
                if limit:
                    link.max_message_size = limit * 1024
                return EntitySender(self.broker, entity)
            assert isinstance(link, OutboundLink)
            return await self._receiver(link, entity)
        except BrokerError as error:
            raise amqp_error(error) from None

    async def _receiver(self, link: OutboundLink, entity: str) -> EntityReceiver:
        mode = ReceiveMode.RECEIVE_AND_DELETE if link.snd_settle_mode == SND_SETTLED else ReceiveMode.PEEK_LOCK
        filters: dict[Any, Any] = dict(link.source.filter or {}) if link.source is not None else {}
        if SESSION_FILTER not in filters and not self._requires_session(entity):
            return EntityReceiver(self.broker.receiver(entity, mode), link)
        requested = filters.get(SESSION_FILTER)
        timeout = link.remote_properties.get(_TIMEOUT)
        receiver = await self.broker.accept_session(
            entity,
            str(requested) if requested is not None else None,
            mode,
            timeout / 1000 if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_ACCEPT_TIMEOUT,
        )
        if link.source is not None:
            link.source.filter = {**filters, SESSION_FILTER: receiver.session_id}
        ticks = int(receiver.locked_until * 10_000_000) + _DOTNET_EPOCH_TICKS
        link.properties = {**(link.properties or {}), LOCKED_UNTIL_UTC: Long(ticks)}
        return EntityReceiver(receiver, link)

    def _requires_session(self, entity: str) -> bool:
        subqueue = self.broker.catalog.receivable(entity)
        return subqueue.sessions is not None
