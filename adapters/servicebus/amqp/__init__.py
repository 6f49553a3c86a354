"""AMQP 1.0 for the Service Bus emulator: codec, framing, SASL and an asyncio connection engine.

Written for the broker's needs rather than as a general AMQP library: it is the server
side only (clients open sessions and attach links, we answer), and it is what the
unmodified ``azure-servicebus`` SDK talks to.

Modules: :mod:`.types` (wrappers for AMQP types Python lacks), :mod:`.decoding` and
:mod:`.encoding` (the type system), :mod:`.composite` (described lists with named
fields), :mod:`.performatives`, :mod:`.outcomes` (delivery states), :mod:`.terminus`
(source/target), :mod:`.message` (sections, batches), :mod:`.frames`, :mod:`.sasl`,
:mod:`.link`, :mod:`.session`, :mod:`.connection` (the engine and :func:`serve`) and
:mod:`.application` (the interface below).

The application interface
-------------------------
The layer above subclasses :class:`Application` and hands it to :func:`serve`, which
the listener calls for each connection (``functools.partial(serve, app=app)`` is an
``AmqpHandler``)::

    class Broker(Application):
        def authenticate(self, connection, credentials) -> bool: ...   # SASL (default: accept)
        def on_open(self, connection) -> None: ...                     # raise AmqpError to refuse
        def on_attach(self, link) -> InboundHandler | OutboundHandler: ...
        def on_close(self, connection, error) -> None: ...

``on_attach`` gets an :class:`InboundLink` (the client sends: a queue sender, or the
request side of ``$cbs``/``$management``) or an :class:`OutboundLink` (we send: a queue
receiver, or a reply link). It returns the link's handler, or raises
``AmqpError(condition, description)`` to refuse: the client gets an attach without
terminus followed by a detach carrying the error, as Azure does. ``link.address`` is the
entity named, ``link.source.filter`` carries ``com.microsoft:session-filter``; before
returning, ``link.source``/``link.properties``/``link.max_message_size`` may be set for
the reply. ``connection.context`` is a dict for per-connection state (CBS tokens),
``connection.sasl`` the SASL credentials.

Every callback may return a value or an awaitable; an awaitable is awaited before the
connection reads its next frame (keep those short). A queue and the CBS node::

    class QueueSender(InboundHandler):                   # the client's sender
        def on_transfer(self, delivery):
            for message in delivery.messages():          # one, or each of a batch
                queue.append(message)
            return Accepted()                            # or rejected(condition, description)
            # or return None and call delivery.settle(outcome) later (after a commit)

    class QueueReceiver(OutboundHandler):                # the client's receiver
        def on_flow(self, link):                         # credit changed / drain asked
            while link.credit and queue:
                message = queue.popleft()
                token = uuid.uuid4()
                link.send(message, tag=token.bytes_le, settled=receive_and_delete, context=message)

        def on_disposition(self, delivery):              # complete/abandon/... of delivery.tag
            if lock_expired(delivery.tag):
                return rejected("com.microsoft:message-lock-lost", "The lock supplied is invalid.")
            apply(delivery.remote_state, delivery.context)
            return delivery.remote_state                 # sent back settled (PEEK_LOCK waits for it)

        def on_detach(self, link, error):
            release_locks(link.unsettled.values())

    class CbsNode(InboundHandler):
        def on_transfer(self, delivery):
            request = delivery.message                   # put-token: application_properties, value
            reply_link = next(l for l in delivery.link.session.links.values()
                              if isinstance(l, OutboundLink) and l.address == "$cbs")
            reply_link.send(Message(properties=Properties(correlation_id=request.properties.message_id),
                                    application_properties={"status-code": 200, "status-description": "OK"}),
                            tag=b"", settled=True)
            return Accepted()

(The reply link's settle mode is ours to pick in ``on_attach``: ``link.snd_settle_mode =
SND_SETTLED`` makes ``settled=True`` stick when the client asked for unsettled.)

The engine grants credit to the client's senders (``ConnectionSettings.link_credit``,
replenished at half) unless the handler sets ``link.auto_credit = False`` and calls
``link.grant(n)``; it answers unsettled transfers with a settled disposition, completes
drains once ``on_flow`` returns, keeps the session windows open, sends heartbeats at half
the client's idle timeout and closes silent connections with
``amqp:resource-limit-exceeded``. ``on_detach`` is called once per link however it ends
(detach from either side, end, close, a dropped socket), then ``on_close``.
"""

from .application import Application, InboundHandler, OutboundHandler
from .connection import Connection, ConnectionSettings, serve
from .errors import AmqpError, DecodeError
from .link import (
    InboundLink,
    IncomingDelivery,
    Link,
    LinkDetached,
    NoCredit,
    OutboundLink,
    OutgoingDelivery,
)
from .message import BATCH_MESSAGE_FORMAT, Header, Message, Properties, split_batch
from .outcomes import Accepted, DeliveryState, Modified, Received, Rejected, Released, rejected
from .performatives import RCV_FIRST, RCV_SECOND, SND_MIXED, SND_SETTLED, SND_UNSETTLED
from .sasl import SaslCredentials
from .terminus import Source, Target

__all__ = [
    "BATCH_MESSAGE_FORMAT",
    "RCV_FIRST",
    "RCV_SECOND",
    "SND_MIXED",
    "SND_SETTLED",
    "SND_UNSETTLED",
    "Accepted",
    "AmqpError",
    "Application",
    "Connection",
    "ConnectionSettings",
    "DecodeError",
    "DeliveryState",
    "Header",
    "InboundHandler",
    "InboundLink",
    "IncomingDelivery",
    "Link",
    "LinkDetached",
    "Message",
    "Modified",
    "NoCredit",
    "OutboundHandler",
    "OutboundLink",
    "OutgoingDelivery",
    "Properties",
    "Received",
    "Rejected",
    "Released",
    "SaslCredentials",
    "Source",
    "Target",
    "rejected",
    "serve",
    "split_batch",
]
