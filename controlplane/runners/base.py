"""The one small interface every runner implements, and the HTTP listener they share."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from controlplane.gateway.protocol import AzureHttpProtocol

if TYPE_CHECKING:
    from controlplane.runtime import ServiceSlot

log = logging.getLogger(__name__)


class PortInUse(Exception):
    """A listener could not bind its port."""

    def __init__(self, host: str, port: int, holder: str | None) -> None:
        self.host, self.port, self.holder = host, port, holder
        held = f" (held by {holder})" if holder else ""
        super().__init__(f"port {port} on {host} is already in use{held}")


class Runner(ABC):
    mode: str

    @abstractmethod
    async def start(self, slot: ServiceSlot) -> None:
        """Bring the service up; raise to fail its start."""

    @abstractmethod
    async def stop(self, slot: ServiceSlot) -> None:
        """Bring it down and release its resources."""

    def endpoint(self, slot: ServiceSlot) -> str | None:
        return None

    def health(self, slot: ServiceSlot) -> dict[str, Any]:
        return {}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; PortInUse naming the holder when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it Nagle + delayed ACK add ~40 ms to every keep-alive response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, _port_holder(port)) from None
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _port_holder(port: int) -> str | None:
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid}, {proc.name()}"
    except Exception:  # the holder is a hint; failing to find it must not hide the real error
        return None
    return None


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runtime owns signal handling (it drains before stopping).
        yield


def http_config(app: Any) -> uvicorn.Config:
    """How every listener serves HTTP (service ports and the sniffing edge alike)."""
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=AzureHttpProtocol,
        # AMQP over WebSocket (controlplane/gateway/amqp_websocket.py) relies on this implementation's
        # write flow control, closing handshake and denial responses; "auto" would take wsproto's
        # when websockets is missing.
        ws="websockets-sansio",
        timeout_keep_alive=30,
    )


class HttpListener:
    """One uvicorn server on a socket we bound ourselves (so errors are ours to word)."""

    def __init__(self, app: Any, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self._server = _Server(http_config(app))
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self.sock]), name=f"listener:{self.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"listener {self.name} stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; requests still running after ``grace`` seconds are cancelled."""
        self._server.config.timeout_graceful_shutdown = grace
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sock.close()
