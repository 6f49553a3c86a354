"""One port, several protocols: the listener tells them apart from the first bytes.

Each accepted socket is *peeked* at (``MSG_PEEK``), so nothing is consumed before the
right handler takes it over with the socket exactly as the client wrote it:

- ``AMQP`` (an AMQP protocol header) -> the registered AMQP handler, as a stream
  reader/writer pair that still starts with the header; no handler -> closed;
- ``0x16`` (a TLS handshake record) -> TLS terminated here (``connect_accepted_socket``
  with a server context whose SNI callback picks the certificate), then AMQP or HTTP
  inside, told apart the same way;
- ``CONNECT host:port`` -> the forward-proxy tunnel (see :mod:`controlplane.gateway.proxy`):
  ``200`` and the same dispatch again inside, TLS with a certificate minted for the host;
- anything else -> HTTP.

HTTP is always the protocol every listener uses (``runners.base.http_config``: uvicorn's
httptools protocol with the gateway's limits) attached to the (possibly TLS) transport.
Inside TLS the first decrypted bytes have to be read to decide; they are handed to the
protocol with ``data_received`` after ``connection_made``. So one ASGI app serves plain,
TLS and tunnelled requests alike, and uvicorn's graceful shutdown (close idle keep-alive
connections, cancel what still runs after the grace period) covers them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import select
import socket
import ssl
import time
from collections.abc import Awaitable, Collection
from typing import Any

import uvicorn

from controlplane.adapter import AmqpHandler
from controlplane.gateway.proxy import (
    ESTABLISHED,
    MAX_CONNECT_HEAD,
    BadConnect,
    ProxyPolicy,
    error_response,
    parse_connect,
)
from controlplane.gateway.streams import PushReader
from controlplane.runners.base import _Server, http_config
from controlplane.tls import AuthorityLoader, LocalAuthority

log = logging.getLogger(__name__)


AMQP_PREFACE = b"AMQP"
TLS_HANDSHAKE = 0x16
CONNECT = b"CONNECT "

HTTP, TLS, AMQP, PROXY = "http", "tls", "amqp", "connect"
ALL_PROTOCOLS = frozenset({HTTP, TLS, AMQP, PROXY})

TLS_SHUTDOWN_TIMEOUT = 2.0
"""Seconds a closing TLS connection waits for the peer's close_notify (asyncio's default, 30,
would hold every stop up by an idle pooled client that never reads its socket again)."""

_PEEK_SIZE = 16
_POLL = 0.01
_ACCEPT_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class SniffingListener:
    """A listener (edge port, or a service's shared port) serving HTTP, TLS, CONNECT and AMQP.

    ``protocols`` limits what is accepted: ``{"tls"}`` makes an HTTPS-only listener.
    ``tls`` loads the local authority (lazily: the first TLS connection waits for it).
    ``proxy`` decides which CONNECT hosts are served; without it CONNECT is refused.
    """

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        name: str,
        *,
        tls: AuthorityLoader | None = None,
        proxy: ProxyPolicy | None = None,
        amqp: AmqpHandler | None = None,
        protocols: Collection[str] = ALL_PROTOCOLS,
        first_bytes_timeout: float = 10.0,
    ) -> None:
        self.sock = sock
        self.name = name
        self.tls = tls
        self.proxy = proxy
        self.amqp = amqp
        self.protocols = frozenset(protocols)
        self.first_bytes_timeout = first_bytes_timeout
        self._server = _SniffingServer(http_config(app), self)
        self._task: asyncio.Task[None] | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._sniffing: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._tls_context: ssl.SSLContext | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def register_amqp(self, handler: AmqpHandler | None) -> None:
        self.amqp = handler

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name=f"listener:{self.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"listener {self.name} stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; requests (and AMQP connections) still running after ``grace`` seconds are cancelled."""
        self._server.config.timeout_graceful_shutdown = grace  # type: ignore[assignment]  # uvicorn says int; a float works
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        self.sock.close()

    # ---- accepting (driven by the uvicorn server's start-up and shut-down) --------------

    def _start_accepting(self) -> None:
        self._accepting = asyncio.create_task(self._accept_loop(), name=f"accept:{self.name}")

    def _close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._sniffing):
            task.cancel()

    async def _wait_closed(self) -> None:
        pending = [t for t in (self._accepting, *self._sniffing, *self._handlers) if t is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:
                if exc.errno in _ACCEPT_ERRORS:
                    log.warning("listener %s: cannot accept (%s); retrying in a second", self.name, exc)
                    await asyncio.sleep(1.0)
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            conn.setblocking(False)
            self._track(self._sniffing, self._dispatch(conn, tunnel_host=None), f"sniff:{self.name}")

    @staticmethod
    def _track(tasks: set[asyncio.Task[None]], coroutine: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)  # type: ignore[assignment]
        task.set_name(name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # ---- one connection ------------------------------------------------------------------

    async def _dispatch(self, conn: socket.socket, tunnel_host: str | None) -> None:
        """Peek, then hand the socket over; on any failure the socket is closed, never leaked."""
        handed_over = False
        try:
            kind = await self._sniff(conn, allow_connect=tunnel_host is None)
            if kind is None:
                return
            # Inside a CONNECT tunnel whatever the client speaks is served; outside, what the port accepts.
            if tunnel_host is None and kind not in self.protocols:
                if kind in (HTTP, PROXY) and TLS in self.protocols:
                    message = "This port speaks HTTPS only: the plain HTTP request was refused."
                    await _send_quietly(asyncio.get_running_loop(), conn, error_response(400, "Bad Request", message))
                return
            if kind == PROXY:
                handed_over = await self._tunnel(conn)
            elif kind == TLS:
                handed_over = await self._serve_tls(conn, tunnel_host)
            elif kind == AMQP:
                handed_over = await self._serve_amqp_plain(conn)
            else:
                await asyncio.get_running_loop().connect_accepted_socket(self._http_protocol, conn)
                handed_over = True
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            log.debug("listener %s: connection dropped: %s", self.name, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("listener %s: error handling a new connection", self.name)
        finally:
            if not handed_over:
                _close_gently(conn)

    async def _sniff(self, conn: socket.socket, allow_connect: bool) -> str | None:
        """The protocol the first bytes say, or None when the peer sent nothing in time or closed."""
        deadline = time.monotonic() + self.first_bytes_timeout
        await _readable(conn, self.first_bytes_timeout)
        while True:
            head = conn.recv(_PEEK_SIZE, socket.MSG_PEEK)
            if not head:
                return None
            if head[0] == TLS_HANDSHAKE:
                return TLS
            if head.startswith(AMQP_PREFACE):
                return AMQP
            if allow_connect and head.startswith(CONNECT):
                return PROXY
            undecided = AMQP_PREFACE.startswith(head) or (allow_connect and CONNECT.startswith(head))
            if not undecided:
                return HTTP
            # A preface split across segments: wait for the rest (a socket with unread data
            # stays readable, so this polls; it only happens with odd clients).
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(_POLL)

    async def _tunnel(self, conn: socket.socket) -> bool:
        loop = asyncio.get_running_loop()
        head = await _peek_head(conn, self.first_bytes_timeout)
        if head is None:
            await _send_quietly(loop, conn, error_response(400, "Bad Request", "Malformed or oversized CONNECT."))
            return False
        conn.recv(len(head))  # consume exactly the CONNECT head: the tunnel's bytes follow it
        try:
            target = parse_connect(head)
        except BadConnect as exc:
            await _send_quietly(loop, conn, error_response(400, "Bad Request", str(exc)))
            return False
        if self.proxy is None or not self.proxy.allows(target.host):
            log.info("refused CONNECT to %s:%d (not a LocalZure service host)", target.host, target.port)
            message = f"LocalZure only proxies Azure service hostnames; '{target.host}' is not one."
            await _send_quietly(loop, conn, error_response(403, "Forbidden", message))
            return False
        await loop.sock_sendall(conn, ESTABLISHED)
        log.debug("CONNECT %s:%d: serving the tunnel locally", target.host, target.port)
        await self._dispatch(conn, tunnel_host=target.host)
        return True  # _dispatch owns (and closes) the socket from here

    async def _serve_tls(self, conn: socket.socket, tunnel_host: str | None) -> bool:
        if self.tls is None:
            return False
        authority = await self.tls.get()
        if tunnel_host is not None:
            context = authority.cached_context_for(tunnel_host) or await asyncio.to_thread(
                authority.context_for, tunnel_host
            )
        else:
            context = self._server_context(authority)
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(
            lambda: _InnerSniffer(self, loop),
            conn,
            ssl=context,
            ssl_handshake_timeout=self.first_bytes_timeout,
            ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
        )
        return True

    def _server_context(self, authority: LocalAuthority) -> ssl.SSLContext:
        if self._tls_context is None:
            mint_for = self.proxy.allows if self.proxy is not None else None
            self._tls_context = authority.server_context(mint_for)
        return self._tls_context

    async def _serve_amqp_plain(self, conn: socket.socket) -> bool:
        if self.amqp is None:
            log.info("listener %s: AMQP connection closed: no AMQP service is registered", self.name)
            return False
        loop = asyncio.get_running_loop()
        reader = PushReader(loop=loop)
        transport, protocol = await loop.connect_accepted_socket(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), conn
        )
        self._run_amqp(reader, asyncio.StreamWriter(transport, protocol, reader, loop))
        return True

    def _run_amqp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = self.amqp
        assert handler is not None

        async def run() -> None:
            try:
                await handler(reader, writer)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listener %s: the AMQP handler failed", self.name)
            finally:
                writer.close()

        self._track(self._handlers, run(), f"amqp:{self.name}")

    def _http_protocol(self) -> asyncio.Protocol:
        config = self._server.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config,
            server_state=self._server.server_state,
            app_state=self._server.lifespan.state,
            _loop=asyncio.get_running_loop(),
        )
        return protocol


def https_listener(
    app: Any, sock: socket.socket, name: str, tls: AuthorityLoader, amqp: AmqpHandler | None = None
) -> SniffingListener:
    """A service's HTTPS port (Key Vault 8443, Cosmos 8081), with the server certificate of the
    local CA; with ``amqp``, AMQP on the same port too (Service Bus 5672)."""
    protocols = {TLS, AMQP} if amqp is not None else {TLS}
    return SniffingListener(app, sock, name, tls=tls, amqp=amqp, protocols=protocols)


class _InnerSniffer(asyncio.Protocol):
    """Inside TLS: waits for the first bytes, then becomes the HTTP protocol (or AMQP)."""

    def __init__(self, listener: SniffingListener, loop: asyncio.AbstractEventLoop) -> None:
        self.listener = listener
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.timer = self.loop.call_later(self.listener.first_bytes_timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if AMQP_PREFACE.startswith(self.buffer[:4]) and len(self.buffer) < len(AMQP_PREFACE):
            return
        if self.timer is not None:
            self.timer.cancel()
        assert self.transport is not None
        if self.buffer.startswith(AMQP_PREFACE):
            self._become_amqp(self.transport)
        else:
            self._become(self.listener._http_protocol(), self.transport)

    def _become(self, protocol: asyncio.Protocol, transport: asyncio.Transport) -> None:
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(self.buffer)

    def _become_amqp(self, transport: asyncio.Transport) -> None:
        if self.listener.amqp is None:
            log.info("listener %s: AMQP-over-TLS connection closed: no AMQP service", self.listener.name)
            transport.close()
            return
        reader = PushReader(loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self.loop)
        self._become(protocol, transport)
        writer = asyncio.StreamWriter(transport, protocol, reader, self.loop)
        self.listener._run_amqp(reader, writer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def eof_received(self) -> bool | None:
        return None


class _SniffingServer(_Server):
    """uvicorn's server with our accept loop in place of ``loop.create_server``."""

    def __init__(self, config: uvicorn.Config, listener: SniffingListener) -> None:
        super().__init__(config)
        self._listener = listener

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        # What uvicorn's shutdown closes and waits for: only close() and wait_closed() are used.
        self.servers = [_AcceptorHandle(self._listener)]  # type: ignore[list-item]
        self._listener._start_accepting()
        self.started = True


class _AcceptorHandle:
    def __init__(self, listener: SniffingListener) -> None:
        self._listener = listener

    def close(self) -> None:
        self._listener._close()

    async def wait_closed(self) -> None:
        await self._listener._wait_closed()


async def _readable(conn: socket.socket, timeout: float) -> None:
    """Wait until the socket has data (or EOF); TimeoutError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    try:
        loop.add_reader(fd, wake)
    except NotImplementedError:  # Windows' proactor loop has no readiness callbacks: poll
        deadline = time.monotonic() + timeout
        while not select.select([conn], [], [], 0)[0]:
            if time.monotonic() > deadline:
                raise TimeoutError from None
            await asyncio.sleep(_POLL)
        return
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


async def _peek_head(conn: socket.socket, timeout: float) -> bytes | None:
    """The request head up to and including the blank line, without consuming it; None if too long or cut off."""
    deadline = time.monotonic() + timeout
    while True:
        data = conn.recv(MAX_CONNECT_HEAD, socket.MSG_PEEK)
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data[: end + 4]
        if not data or len(data) >= MAX_CONNECT_HEAD or time.monotonic() > deadline:
            return None
        await asyncio.sleep(_POLL)


async def _send_quietly(loop: asyncio.AbstractEventLoop, conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        await loop.sock_sendall(conn, data)


def _close_gently(conn: socket.socket) -> None:
    """Close after reading what the peer already sent: closing with unread input makes the
    kernel answer with a reset, which can destroy a refusal we have just written."""
    with contextlib.suppress(OSError):
        for _ in range(16):
            if not conn.recv(65536):
                break
    conn.close()
