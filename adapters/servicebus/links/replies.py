"""The links that replies of request/response nodes (``$cbs``, ``$management``) go out on.

A client opens a node as two links in one session: a sender whose target is the node and
a receiver whose source is the node. A reply goes out on the receiver, correlated to the
request by ``correlation-id = message-id``; it waits there while the client has given no
credit.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from adapters.servicebus.amqp import SND_SETTLED, Message, OutboundHandler, OutboundLink, Properties
from adapters.servicebus.amqp.link import InboundLink, Link
from adapters.servicebus.amqp.types import Int

_REPLY_LINKS = "reply-links"


class ReplyLink(OutboundHandler):
    def __init__(self, link: OutboundLink) -> None:
        self.link = link
        self.pending: deque[Message] = deque()
        link.snd_settle_mode = SND_SETTLED
        _registry(link)[_key(link)] = self

    def send(self, message: Message) -> None:
        self.pending.append(message)
        self._flush()

    def on_flow(self, link: OutboundLink) -> None:
        self._flush()

    def on_detach(self, link: OutboundLink, error: Any) -> None:
        registry = _registry(link)
        if registry.get(_key(link)) is self:
            del registry[_key(link)]

    def _flush(self) -> None:
        while self.pending and self.link.credit > 0 and self.link.attached and not self.link.detach_sent:
            self.link.send(self.pending.popleft(), tag=b"", settled=True)


def _registry(link: Link) -> dict[tuple[int, str], ReplyLink]:
    """The connection's reply links by (session channel, node address)."""
    return link.connection.context.setdefault(_REPLY_LINKS, {})  # type: ignore[no-any-return]


def _key(link: Link) -> tuple[int, str]:
    return link.session.channel, link.address or ""


MANAGEMENT_STATUS = ("statusCode", "statusDescription")
CBS_STATUS = ("status-code", "status-description")
"""The SDK reads ``$cbs`` replies' status under other names than ``$management`` ones."""


def reply(
    request_link: InboundLink,
    request: Message,
    status: int,
    description: str,
    *,
    fields: tuple[str, str] = MANAGEMENT_STATUS,
    **kwargs: Any,
) -> None:
    """Answer ``request`` on the reply link of the node it was sent to.

    ``kwargs``: ``value`` (the body), ``application_properties`` (merged after the status)."""
    node = _registry(request_link).get(_key(request_link))
    if node is None:
        return  # the client never opened the reply side: nowhere to answer
    request_id = request.properties.message_id if request.properties is not None else None
    application_properties: dict[str, Any] = {fields[0]: Int(status), fields[1]: description}
    application_properties.update(kwargs.pop("application_properties", {}))
    message = Message(
        properties=Properties(correlation_id=request_id),
        application_properties=application_properties,
        **kwargs,
    )
    node.send(message)
