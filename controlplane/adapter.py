"""The plugin API every service adapter implements.

The core never imports an adapter by name: adapters are found through the
``localzure.adapters`` entry-point group and speak to the core only through the
types in this module.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from controlplane.state.backend import StateBackend

CONTROLPLANE_IMAGE = "localzure/controlplane:latest"
"""LocalZure's own image: the control plane, and every adapter's emulator (``python -m adapters.<name>``)."""
SERVICE_DETAILS_PATH = "/_localzure/details"
"""Where a service's own port answers its health details (JSON): how a service in a container
reports them to the control plane in front of it."""

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
AmqpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""Serves one AMQP connection; the reader yields every byte from the protocol header on (the
gateway's is a ``controlplane.gateway.streams.PushReader``, which can hand bytes over as they arrive)."""


@dataclass(frozen=True)
class Operation:
    """One Azure operation as the gateway sees it: for auth, faults and metrics."""

    name: str
    """The Azure operation name, e.g. ``PutMessage``."""
    sas_permission: str = ""
    """Letters a SAS must grant for it (any one of them suffices), '' for none."""
    resource_type: str = "o"
    """Account-SAS resource type: 's' service, 'c' container/queue/table, 'o' object."""
    resource: str = ""
    """The resource a service SAS must be scoped to, e.g. the queue name ('' = account level)."""
    anonymous: bool = False
    """True when the operation may be served without credentials (e.g. public blobs)."""
    sas_allowed: bool = True
    """False for operations only the account key may call (e.g. reading a queue's ACL)."""


@dataclass
class RequestTarget:
    """Where a request goes once routed: the service and the account it addresses."""

    service: str
    account: str
    path: str
    """The resource path below the account, always starting with '/'."""
    path_style: bool
    """True when the account was the first path segment (port routing)."""


@dataclass
class RequestContext:
    """What the gateway learned about a request, handed to the service as ``scope['localzure']``."""

    request_id: str
    target: RequestTarget
    operation: Operation
    query: dict[str, str]
    """Decoded query parameters (the first value of each name)."""
    auth: Any = None
    """The authenticator's result (e.g. which SAS, its key ranges)."""


@dataclass(frozen=True)
class HostnamePattern:
    """``{account}`` plus a fixed suffix, e.g. ``.queue.core.windows.net``."""

    suffix: str

    def match(self, host: str) -> str | None:
        host = host.split(":", 1)[0].lower()
        if host.endswith(self.suffix) and len(host) > len(self.suffix):
            account = host[: -len(self.suffix)]
            if "." not in account:
                return account
        return None


@dataclass(frozen=True)
class ContainerSpec:
    """How the service runs as a container (Docker mode)."""

    image: str
    ports: Mapping[int, str] = field(default_factory=dict)
    """Container port -> purpose."""
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    healthcheck: tuple[str, ...] = ()
    volume_path: str = "/data"


@dataclass
class ServiceContext:
    """What the core hands an adapter when it builds the in-process service."""

    name: str
    port: int
    data_dir: Path
    state: StateBackend
    accounts: Callable[[], Mapping[str, bytes]]
    """Current account name -> decoded key (changes live with the config)."""
    settings: Mapping[str, Any] = field(default_factory=dict)


class Service(ABC):
    """A running instance of an adapter's emulator."""

    auth_scheme: str = "none"
    """Which gateway authenticator guards it: 'storage', 'none', ..."""
    error_format: str = "json"
    """How errors are rendered: 'xml' (blob, queue), 'table-json' (Table OData) or 'json'."""

    @abstractmethod
    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        """Name the operation a request asks for; raise an AzureError if none matches."""

    @abstractmethod
    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Serve one request (ASGI); ``scope['localzure']`` holds the routed RequestContext."""

    async def start(self) -> None:
        """Load state, start timers. Raise to fail the start-up."""

    async def stop(self) -> None:
        """Release what start acquired."""

    def health(self) -> dict[str, Any]:
        """Service-specific health details for the admin API."""
        return {}

    def metrics(self) -> Iterable[Metric]:
        """The service's own Prometheus metric families, built when scraped (possibly in a worker
        thread, so read state without iterating tables the event loop may be changing).

        The control plane's ``/_localzure/metrics`` shows them, and the service's own port serves
        them alone at that path: that is how a service in a container reports them."""
        return ()

    def amqp(self) -> AmqpHandler | None:
        """For a service whose port also carries AMQP (Service Bus): the handler of one AMQP
        connection. The port then sniffs each connection's first bytes: AMQP, TLS or HTTP."""
        return None

    def stored_access_policy(self, account: str, resource: str, identifier: str) -> Mapping[str, str] | None:
        """A stored access policy by id (for service SAS ``si=``), or None."""
        return None

    async def reset(self) -> None:
        """Wipe all state."""


class Adapter(ABC):
    """Static facts about a service and the factory of its in-process instance."""

    name: str
    default_port: int
    hostname_suffixes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    max_body_bytes: int | None = None
    """Largest request body the gateway lets through to it (None: the service checks its own)."""
    account_in_path: bool = True
    """On its own port, the first path segment names the account (storage's path-style URLs).
    False for services whose paths are all resource (Service Bus: the namespace is the host)."""
    speaks_amqp: bool = False
    """Its port carries AMQP as well as HTTP (Service Bus): in Docker mode the gateway pipes
    AMQP connections to the container unread."""

    @property
    def hostname_patterns(self) -> tuple[HostnamePattern, ...]:
        return tuple(HostnamePattern(s) for s in self.hostname_suffixes)

    @abstractmethod
    def create_service(self, context: ServiceContext) -> Service:
        """Build the in-process service."""

    def container_spec(self, image: str | None = None) -> ContainerSpec | None:
        """How to run it as a container: LocalZure's own image running ``python -m adapters.<name>``,
        the same code as host mode, checked by a TCP connect to its port."""
        port = self.default_port
        command = ("python", "-m", f"adapters.{self.name}", "--host", "0.0.0.0", "--port", str(port))
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()"
        return ContainerSpec(
            image=image or CONTROLPLANE_IMAGE,
            ports={port: self.name},
            command=(*command, "--data-dir", "/data"),
            healthcheck=("python", "-c", probe),
            volume_path="/data",
        )

    def container_settings(self, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        """``services.<name>`` as the service's container gets it: the container runs the
        service alone and reads no config file, so what the in-process service would read
        from this machine (a file it names) must be put into the settings themselves."""
        return settings

    def connection_string(self, account: str, key: str, endpoint: str) -> str | None:
        """A ready-to-paste connection string for a running instance."""
        return None
