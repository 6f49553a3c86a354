"""Which WebSocket upgrades are AMQP, and what the others are answered with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controlplane.gateway.amqp_websocket import (
    AMQP_SUBPROTOCOL,
    AMQP_WEBSOCKET_PATH,
    AmqpSubprotocolRequired,
    NoWebSocketEndpoint,
    amqp_endpoint,
    serve_amqp,
)


async def amqp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readexactly(8))
    writer.close()


def upgrade(path: str = AMQP_WEBSOCKET_PATH, subprotocols: tuple[str, ...] = (AMQP_SUBPROTOCOL,)) -> dict[str, Any]:
    return {"type": "websocket", "path": path, "subprotocols": list(subprotocols)}


def test_the_servicebus_path_with_the_subprotocol_is_served_by_the_amqp_handler() -> None:
    assert amqp_endpoint(upgrade(), amqp) is amqp
    assert amqp_endpoint(upgrade(subprotocols=("other", AMQP_SUBPROTOCOL)), amqp) is amqp


@pytest.mark.parametrize("path", ["/", "/$servicebus/websocket/", "/queue/messages", "/$SERVICEBUS/WEBSOCKET"])
def test_other_paths_are_not_found(path: str) -> None:
    with pytest.raises(NoWebSocketEndpoint) as refused:
        amqp_endpoint(upgrade(path), amqp)
    assert refused.value.status == 404


def test_a_service_without_amqp_has_no_websocket_endpoint() -> None:
    with pytest.raises(NoWebSocketEndpoint):
        amqp_endpoint(upgrade(), None)


@pytest.mark.parametrize("subprotocols", [(), ("mqtt",)])
def test_without_the_amqp_subprotocol_the_upgrade_is_a_bad_request(subprotocols: tuple[str, ...]) -> None:
    with pytest.raises(AmqpSubprotocolRequired) as refused:
        amqp_endpoint(upgrade(subprotocols=subprotocols), amqp)
    assert refused.value.status == 400


async def test_serving_accepts_with_the_subprotocol_then_runs_the_handler() -> None:
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.receive", "bytes": b"AMQP\x00\x01\x00\x00"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    await asyncio.wait_for(serve_amqp(incoming.get, send, amqp), 5)
    assert sent == [
        {"type": "websocket.accept", "subprotocol": AMQP_SUBPROTOCOL},
        {"type": "websocket.send", "bytes": b"AMQP\x00\x01\x00\x00"},
        {"type": "websocket.close", "code": 1000},
    ]
