"""AMQP over WebSocket (``TransportType.AmqpOverWebsocket``): the unmodified SDK, sync and async,
on the Service Bus port (plain ``ws://`` for the emulator connection string, ``wss://`` without
it) and through the edge's proxy for ``<namespace>.servicebus.windows.net``; then the upgrade's
refusals and the closing handshake, seen from a WebSocket client
(controlplane/gateway/amqp_websocket.py, controlplane/gateway/websocket_stream.py).

The SDK connects WebSockets to port 443 (``ws://`` to 80 in the sync client) whatever the
Endpoint says, so every client here passes ``custom_endpoint_address``: the Endpoint again.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websocket
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue, TransportType
from azure.servicebus._pyamqp.error import TokenAuthFailure  # what the SDK wraps a CBS refusal in
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusConnectionError, ServiceBusError

from controlplane.testing.server import LocalZureThread
from tests.sdk.servicebus.support import QueueFactory, receive, unique

WEBSOCKET = TransportType.AmqpOverWebsocket
AMQP_SASL_HEADER = b"AMQP\x03\x01\x00\x00"
KEY = "SAS_KEY_VALUE"


def endpoint(connection_string: str) -> str:
    """``sb://host:port``, the connection string's Endpoint: what a user passes as ``custom_endpoint_address``."""
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if part)
    return fields["Endpoint"].rstrip("/")


@pytest.fixture
def ws_client(connection_string: str) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(
        connection_string, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string)
    ) as client:
        yield client


@pytest.fixture
def session_queue(new_queue: QueueFactory) -> str:
    return new_queue(requires_session=True, lock_duration=timedelta(seconds=5)).name


def _round_trip(client: ServiceBusClient, queue: str, body: str) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage(body))
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert str(message) == body
        receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []


# ---- the SDK ---------------------------------------------------------------------------------


def test_send_receive_complete_over_websocket(ws_client: ServiceBusClient, queue: str) -> None:
    with ws_client.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}", application_properties={"i": i}) for i in range(5)])
    with ws_client.get_queue_receiver(queue) as receiver:
        received = receive(receiver, 5)
        assert [str(m) for m in received] == [f"m{i}" for i in range(5)]
        assert [m.application_properties[b"i"] for m in received] == list(range(5))
        for message in received:
            receiver.complete_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []


def test_a_websocket_sender_and_a_socket_receiver_share_the_queue(
    ws_client: ServiceBusClient, client: ServiceBusClient, queue: str
) -> None:
    payload = b"\x00\xff" * 40_000  # several AMQP frames, several WebSocket messages
    with ws_client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage(payload))
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert b"".join(message.body) == payload
        receiver.complete_message(message)


def test_abandon_redelivers_and_dead_letter_moves_the_message(ws_client: ServiceBusClient, queue: str) -> None:
    with ws_client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("settle me"))
    with ws_client.get_queue_receiver(queue) as receiver:
        [first] = receive(receiver, 1)
        receiver.abandon_message(first)
        [again] = receive(receiver, 1)
        assert (str(again), again.delivery_count) == ("settle me", 1)
        receiver.dead_letter_message(again, reason="poison", error_description="over websocket")
    with ws_client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead_letters:
        [dead] = receive(dead_letters, 1)
        assert (str(dead), dead.dead_letter_reason, dead.dead_letter_error_description) == (
            "settle me",
            "poison",
            "over websocket",
        )
        dead_letters.complete_message(dead)


def test_a_session_over_websocket(ws_client: ServiceBusClient, session_queue: str) -> None:
    with ws_client.get_queue_sender(session_queue) as sender:
        sender.send_messages([ServiceBusMessage(f"{s}-{i}", session_id=s) for i in range(3) for s in ("a", "b")])
    with ws_client.get_queue_receiver(session_queue, session_id="b") as receiver:
        receiver.session.set_state(b"checkpoint")
        received = receive(receiver, 3)
        assert [str(m) for m in received] == ["b-0", "b-1", "b-2"]
        for message in received:
            receiver.complete_message(message)
        assert receiver.session.get_state() == b"checkpoint"


def _refused_token(error: ServiceBusError) -> TokenAuthFailure:
    """The CBS refusal inside the SDK's error: with ``custom_endpoint_address`` the SDK reports an
    authentication failure as ServiceBusConnectionError ("for uamqp parity", _pyamqp_transport.py)."""
    assert isinstance(error, ServiceBusConnectionError)
    assert isinstance(error.inner_exception, TokenAuthFailure)
    return error.inner_exception


def test_wrong_key_is_refused_over_websocket(connection_string: str, queue: str) -> None:
    wrong = connection_string.replace(f"SharedAccessKey={KEY}", "SharedAccessKey=not-the-key")
    assert wrong != connection_string
    with (
        ServiceBusClient.from_connection_string(
            wrong, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string), retry_total=0
        ) as client,
        pytest.raises(ServiceBusError) as refused,
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))
    token_error = _refused_token(refused.value)
    assert token_error.status_code == 401
    assert b"InvalidSignature" in token_error.status_description


def test_wrong_key_through_the_edge_proxy_is_an_authentication_error(
    localzure: LocalZureThread, ca_file: str, queue: str
) -> None:
    cloud = f"Endpoint=sb://{unique('ns')}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=not-the-key"
    proxy = {"proxy_hostname": "127.0.0.1", "proxy_port": localzure.edge_port}
    with (
        ServiceBusClient.from_connection_string(
            cloud, http_proxy=proxy, connection_verify=ca_file, retry_total=0
        ) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))


async def test_async_send_receive_complete_and_session_over_websocket(
    connection_string: str, queue: str, session_queue: str
) -> None:
    async with AsyncServiceBusClient.from_connection_string(
        connection_string, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string)
    ) as client:
        async with client.get_queue_sender(queue) as sender:
            batch = await sender.create_message_batch()
            for i in range(3):
                batch.add_message(ServiceBusMessage(f"async-{i}"))
            await sender.send_messages(batch)
        async with client.get_queue_receiver(queue, max_wait_time=5) as receiver:
            received = []
            async for message in receiver:
                received.append(message)
                await receiver.complete_message(message)
                if len(received) == 3:
                    break
            assert [str(m) for m in received] == ["async-0", "async-1", "async-2"]
        async with client.get_queue_sender(session_queue) as sender:
            await sender.send_messages(ServiceBusMessage("in a session", session_id="s1"))
        async with client.get_queue_receiver(session_queue, session_id="s1", max_wait_time=5) as session_receiver:
            [message] = await session_receiver.receive_messages(max_wait_time=5)
            assert (str(message), message.session_id) == ("in a session", "s1")
            await session_receiver.complete_message(message)


async def test_async_wrong_key_is_refused_over_websocket(connection_string: str, queue: str) -> None:
    wrong = connection_string.replace(f"SharedAccessKey={KEY}", "SharedAccessKey=not-the-key")
    async with AsyncServiceBusClient.from_connection_string(
        wrong, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string), retry_total=0
    ) as client:
        with pytest.raises(ServiceBusError) as refused:
            async with client.get_queue_sender(queue) as sender:
                await sender.send_messages(ServiceBusMessage("never"))
    assert _refused_token(refused.value).status_code == 401


def test_wss_on_the_service_port_without_the_emulator_flag(
    localzure: LocalZureThread, ca_file: str, queue: str
) -> None:
    port = localzure.port("servicebus")
    tls = f"Endpoint=sb://localhost:{port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY}"
    with ServiceBusClient.from_connection_string(
        tls, transport_type=WEBSOCKET, custom_endpoint_address=f"sb://localhost:{port}", connection_verify=ca_file
    ) as client:
        _round_trip(client, queue, "over wss")


def test_the_cloud_hostname_through_the_edge_proxy(localzure: LocalZureThread, ca_file: str, queue: str) -> None:
    # A proxy makes the SDK use WebSockets by itself: the real connection string works unchanged.
    cloud = f"Endpoint=sb://{unique('ns')}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY}"
    proxy = {"proxy_hostname": "127.0.0.1", "proxy_port": localzure.edge_port}
    with ServiceBusClient.from_connection_string(cloud, http_proxy=proxy, connection_verify=ca_file) as client:
        _round_trip(client, queue, "through the edge")


async def test_async_the_cloud_hostname_through_the_edge_proxy(
    localzure: LocalZureThread, ca_file: str, queue: str
) -> None:
    cloud = f"Endpoint=sb://{unique('ns')}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY}"
    # The async client hands proxy_hostname to aiohttp as the proxy URL, which needs its scheme.
    proxy = {"proxy_hostname": "http://127.0.0.1", "proxy_port": localzure.edge_port}
    async with AsyncServiceBusClient.from_connection_string(
        cloud, http_proxy=proxy, connection_verify=ca_file
    ) as client:
        async with client.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage("async through the edge"))
        async with client.get_queue_receiver(queue, max_wait_time=5) as receiver:
            [message] = await receiver.receive_messages(max_wait_time=5)
            assert str(message) == "async through the edge"
            await receiver.complete_message(message)


# ---- the upgrade and the close, from a WebSocket client -------------------------------------


def _ws_url(localzure: LocalZureThread, path: str = "/$servicebus/websocket") -> str:
    return f"ws://127.0.0.1:{localzure.port('servicebus')}{path}"


def _refusal(url: str, **options: Any) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=5, **options)
    return refused.value


def test_an_upgrade_on_another_path_is_not_found(localzure: LocalZureThread) -> None:
    refused = _refusal(_ws_url(localzure, "/queue/websocket"), subprotocols=["AMQPWSB10"])
    assert refused.status_code == 404
    assert refused.resp_headers["x-ms-error-code"] == "ResourceNotFound"
    assert b"/$servicebus/websocket" in refused.resp_body


def test_an_upgrade_without_the_amqp_subprotocol_is_a_bad_request(localzure: LocalZureThread) -> None:
    refused = _refusal(_ws_url(localzure))
    assert refused.status_code == 400
    assert refused.resp_headers["x-ms-error-code"] == "InvalidHeaderValue"
    assert b"AMQPWSB10" in refused.resp_body


def test_a_service_without_amqp_refuses_the_upgrade(localzure: LocalZureThread) -> None:
    refused = _refusal(f"ws://127.0.0.1:{localzure.port('blob')}/$servicebus/websocket", subprotocols=["AMQPWSB10"])
    assert refused.status_code == 404


def test_the_edge_refuses_an_upgrade_for_an_unknown_host(localzure: LocalZureThread) -> None:
    refused = _refusal(f"ws://127.0.0.1:{localzure.edge_port}/$servicebus/websocket", subprotocols=["AMQPWSB10"])
    assert refused.status_code == 400
    assert refused.resp_headers["x-ms-error-code"] == "InvalidUri"


def test_a_malformed_upgrade_gets_an_http_error(localzure: LocalZureThread) -> None:
    # No Sec-WebSocket-Key: the handshake cannot be completed.
    response = httpx.get(
        _ws_url(localzure).replace("ws://", "http://"),
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
        timeout=5,
    )
    assert response.status_code == 400
    assert b"Traceback" not in response.content


def _open_amqp(localzure: LocalZureThread) -> websocket.WebSocket:
    ws = websocket.create_connection(_ws_url(localzure), subprotocols=["AMQPWSB10"], timeout=5)
    assert ws.getheaders()["sec-websocket-protocol"] == "AMQPWSB10"
    ws.send_binary(AMQP_SASL_HEADER)
    assert ws.recv()[:8] == AMQP_SASL_HEADER  # the server's header (its sasl-mechanisms may follow)
    return ws


def _close_code(ws: websocket.WebSocket) -> int:
    """Read until the server's close frame; its status code."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int(struct.unpack("!H", frame.data[:2])[0])


def test_the_client_closing_gets_the_close_reply(localzure: LocalZureThread) -> None:
    ws = _open_amqp(localzure)
    ws.send_close(websocket.STATUS_NORMAL)
    assert _close_code(ws) == websocket.STATUS_NORMAL
    ws.shutdown()


def test_the_amqp_server_closing_closes_the_websocket_normally(localzure: LocalZureThread) -> None:
    ws = _open_amqp(localzure)
    ws.send_binary(b"\x00\x00\x00\x08\x02\x00\x00\x00" * 2)  # not a SASL frame: the AMQP server gives up
    assert _close_code(ws) == websocket.STATUS_NORMAL
    ws.shutdown()


def test_a_text_message_closes_with_unsupported_data(localzure: LocalZureThread) -> None:
    ws = _open_amqp(localzure)
    ws.send("AMQP is binary")
    assert _close_code(ws) == websocket.STATUS_UNSUPPORTED_DATA_TYPE
    ws.shutdown()


def test_upgrades_are_measured_by_status(localzure: LocalZureThread) -> None:
    def upgrades(status: int) -> float:
        text = httpx.get(f"http://127.0.0.1:{localzure.edge_port}/_localzure/metrics", timeout=5).text
        pattern = (
            rf'localzure_requests_total{{operation="WebSocketUpgrade",service="servicebus",status="{status}"}} (\S+)'
        )
        match = re.search(pattern, text)
        return float(match[1]) if match else 0.0

    accepted, refused = upgrades(101), upgrades(400)
    _open_amqp(localzure).close()
    _refusal(_ws_url(localzure))
    assert (upgrades(101) - accepted, upgrades(400) - refused) == (1, 1)


async def test_many_websocket_connections_at_once(connection_string: str, queue: str) -> None:
    async def one(i: int) -> None:
        async with (
            AsyncServiceBusClient.from_connection_string(
                connection_string, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string)
            ) as client,
            client.get_queue_sender(queue) as sender,
        ):
            await sender.send_messages(ServiceBusMessage(f"c{i}"))

    await asyncio.gather(*(one(i) for i in range(8)))
    async with (
        AsyncServiceBusClient.from_connection_string(
            connection_string, transport_type=WEBSOCKET, custom_endpoint_address=endpoint(connection_string)
        ) as client,
        client.get_queue_receiver(queue, max_wait_time=3) as receiver,
    ):
        bodies = set()
        async for message in receiver:
            bodies.add(str(message))
            await receiver.complete_message(message)
            if len(bodies) == 8:
                break
    assert bodies == {f"c{i}" for i in range(8)}
