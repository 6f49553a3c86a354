"""AMQP over WebSocket: the endpoint Azure messaging SDKs open with ``TransportType.AmqpOverWebsocket``.

The client upgrades ``GET /$servicebus/websocket`` offering the subprotocol ``AMQPWSB10``
and then speaks AMQP 1.0, protocol header first, in binary messages. The service's own
AMQP handler serves it, exactly as it serves a raw socket (in Docker mode that handler is
the pass-through to the container). Anything else that asks for a WebSocket gets an HTTP
error in the service's format instead of the upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane.adapter import AmqpHandler
from controlplane.gateway.errors import AzureError
from controlplane.gateway.websocket_stream import Receive, Send, serve_stream

AMQP_WEBSOCKET_PATH = "/$servicebus/websocket"
AMQP_SUBPROTOCOL = "AMQPWSB10"


class NoWebSocketEndpoint(AzureError):
    status = 404
    code = "ResourceNotFound"
    message = f"WebSocket connections are served on {AMQP_WEBSOCKET_PATH} only, for AMQP (subprotocol AMQPWSB10)."


class AmqpSubprotocolRequired(AzureError):
    status = 400
    code = "InvalidHeaderValue"
    message = f"The WebSocket upgrade must offer the subprotocol {AMQP_SUBPROTOCOL} (Sec-WebSocket-Protocol)."


def amqp_endpoint(scope: Mapping[str, Any], handler: AmqpHandler | None) -> AmqpHandler:
    """The handler to run for this upgrade; raises the error to answer it with otherwise."""
    if handler is None or scope.get("path") != AMQP_WEBSOCKET_PATH:
        raise NoWebSocketEndpoint()
    if AMQP_SUBPROTOCOL not in scope.get("subprotocols", ()):
        raise AmqpSubprotocolRequired()
    return handler


async def serve_amqp(receive: Receive, send: Send, handler: AmqpHandler) -> None:
    """Complete the upgrade and serve AMQP over the WebSocket until either side closes it."""
    await send({"type": "websocket.accept", "subprotocol": AMQP_SUBPROTOCOL})
    await serve_stream(receive, send, handler)
