"""The ``$cbs`` node: clients put SAS tokens here (``put-token``) before attaching to an entity.

A token is checked like the real service checks it: the signature against the namespace's
keys, the expiry; the audience it names is then what the connection may attach to, until
the token expires. A bad token is answered with status 401, which the SDK raises as an
authentication error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from adapters.servicebus.amqp import Accepted, DeliveryState, InboundHandler, IncomingDelivery
from adapters.servicebus.amqp.connection import Connection
from adapters.servicebus.links.replies import CBS_STATUS, reply
from adapters.servicebus.management import sas

_TOKENS = "cbs-tokens"
TOKEN_TYPES = ("servicebus.windows.net:sastoken", "jwt")


class CbsNode(InboundHandler):
    def __init__(self, keys: Callable[[], Mapping[str, str]]) -> None:
        self.keys = keys

    def on_transfer(self, delivery: IncomingDelivery) -> DeliveryState:
        request = delivery.message
        properties = request.application_properties or {}
        if properties.get("operation") != "put-token":
            reply(
                delivery.link,
                request,
                400,
                f"The operation '{properties.get('operation')}' is not supported.",
                fields=CBS_STATUS,
            )
            return Accepted()
        token_type = properties.get("type")
        token = request.value
        if isinstance(token, bytes):
            token = token.decode("utf-8", "replace")
        # The Python SDK labels its SAS tokens "jwt"; what counts is that the token is a SAS token.
        if token_type not in TOKEN_TYPES or not isinstance(token, str):
            reply(
                delivery.link,
                request,
                401,
                f"InvalidToken: tokens of type '{token_type}' are not accepted.",
                fields=CBS_STATUS,
            )
            return Accepted()
        try:
            audience = sas.validate(token, self.keys())
            expiry = sas.parse_token(token).expiry
        except sas.SasTokenError as error:
            reply(delivery.link, request, 401, error.message, fields=CBS_STATUS)
            return Accepted()
        grants(delivery.link.connection)[audience] = expiry
        reply(delivery.link, request, 202, "Accepted", fields=CBS_STATUS)
        return Accepted()


def grants(connection: Connection) -> dict[str, float]:
    """Audience -> expiry (POSIX seconds) of the tokens a connection put."""
    return connection.context.setdefault(_TOKENS, {})  # type: ignore[no-any-return]


def authorized(connection: Connection, path: str, now: float | None = None) -> bool:
    """Does a token the connection put (and that has not expired) cover the entity ``path``?

    The audience's host is not compared with the one the client dialled: behind port
    forwarding or the gateway's edge the two legitimately differ; the signature is the check."""
    now = time.time() if now is None else now
    for audience, expiry in grants(connection).items():
        host = urlsplit(audience if "://" in audience else f"sb://{audience}").hostname or ""
        if expiry > now and sas.audience_covers(audience, host, path):
            return True
    return False
