"""LocalZure in a background thread of the test process, every service on a free port."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from controlplane.config import WELL_KNOWN_ACCOUNT, WELL_KNOWN_KEY, load_settings
from controlplane.runtime import Runtime


class LocalZureThread:
    """Runs the same runtime as ``localzure-cp start --mode host``, on ephemeral ports."""

    def __init__(self, data_dir: Path, persistence: str = "sqlite", **settings: Any) -> None:
        from controlplane.app import build_runtime

        services: dict[str, dict[str, Any]] = {name: {"port": 0} for name in _adapter_names()}
        for name, overrides in settings.pop("services", {}).items():
            services.setdefault(name, {}).update(overrides)
        cli = {"data_dir": data_dir, "persistence": persistence, "port": 0, "mode": "host", "services": services}
        cli.update(settings)
        self.settings = load_settings(cli=cli, env={})
        self.runtime: Runtime = build_runtime(self.settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="localzure", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.call(self.runtime.start())

    def stop(self) -> None:
        self.call(self.runtime.stop(timeout=5))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def port(self, service: str) -> int:
        return self.runtime.slots[service].port

    @property
    def edge_port(self) -> int:
        assert self.runtime.edge is not None
        return self.runtime.edge.port

    def url(self, service: str, account: str = WELL_KNOWN_ACCOUNT) -> str:
        """Path-style account URL on the service's own port."""
        return f"http://127.0.0.1:{self.port(service)}/{account}"

    @property
    def ca_file(self) -> Path:
        """The local CA's certificate (PEM), which HTTPS clients of the services must trust."""
        authority = self.call(self.runtime.tls.get())  # made in the background at start: wait for it
        return Path(authority.ca_path)

    def connection_string(self, service: str, account: str = WELL_KNOWN_ACCOUNT, key: str = WELL_KNOWN_KEY) -> str:
        """A storage account's connection string, or what the service's adapter gives (Service Bus)."""
        endpoint = {"blob": "BlobEndpoint", "queue": "QueueEndpoint", "table": "TableEndpoint"}.get(service)
        if endpoint is None:
            slot = self.runtime.slots[service]
            text = slot.adapter.connection_string(account, key, f"http://127.0.0.1:{self.port(service)}")
            if text is None:
                raise KeyError(f"the service {service!r} has no connection string")
            return text
        url = self.url(service, account)
        return f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};{endpoint}={url};"


def _adapter_names() -> list[str]:
    from controlplane.registry import discover

    return list(discover())
