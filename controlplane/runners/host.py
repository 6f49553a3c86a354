"""Host mode: the service runs in this process, served on its own port."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from controlplane.adapter import ServiceContext
from controlplane.gateway.listener import AMQP, HTTP, TLS, SniffingListener
from controlplane.runners.base import HttpListener, Runner, bind
from controlplane.state import open_backend

if TYPE_CHECKING:
    from controlplane.runtime import Runtime, ServiceSlot


class HostRunner(Runner):
    mode = "host"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def start(self, slot: ServiceSlot) -> None:
        settings = self.runtime.settings
        data_dir = settings.data_dir / slot.name
        data_dir.mkdir(parents=True, exist_ok=True)
        # Bind first: a busy port should fail before any state is opened.
        sock = bind(settings.host, slot.port)
        try:
            slot.backend = open_backend(settings.persistence, data_dir, "state", settings.fsync)
            extra: Mapping[str, Any] = settings.service(slot.name).model_extra or {}
            context = ServiceContext(
                name=slot.name,
                port=slot.port,
                data_dir=data_dir,
                state=slot.backend,
                accounts=lambda: self.runtime.keys,
                settings=extra,
            )
            service = slot.adapter.create_service(context)
            await service.start()
            slot.service = service
            slot.listener = service_listener(self.runtime, slot, sock)
            await slot.listener.start()
            slot.port = slot.listener.port
        except BaseException:
            await self.stop(slot)
            sock.close()
            raise

    async def stop(self, slot: ServiceSlot) -> None:
        if slot.listener is not None:
            await slot.listener.stop(self.runtime.stop_grace)
            slot.listener = None
        if slot.service is not None:
            await slot.service.stop()
            slot.service = None
        if slot.backend is not None:
            await slot.backend.flush()
            slot.backend.close()
            slot.backend = None

    def endpoint(self, slot: ServiceSlot) -> str | None:
        host = self.runtime.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{slot.port}"


def service_listener(runtime: Runtime, slot: ServiceSlot, sock: socket.socket) -> HttpListener | SniffingListener:
    """HTTP on the service's port; for a service that also speaks AMQP (Service Bus), AMQP,
    TLS (with the local CA's certificate) and HTTP, told apart by each connection's first bytes."""
    assert slot.service is not None
    app = runtime.gateway.port_app(slot.name)
    amqp = slot.service.amqp()
    if amqp is None:
        return HttpListener(app, sock, slot.name)
    return SniffingListener(app, sock, slot.name, tls=runtime.tls, amqp=amqp, protocols={AMQP, TLS, HTTP})
