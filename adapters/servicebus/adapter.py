"""Service Bus: AMQP 1.0 and the management API's HTTPS on one port (5672, as the official
emulator), and the factory of its in-process service."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controlplane.adapter import Adapter, ContainerSpec, Service, ServiceContext

IMAGE = "localzure/servicebus:latest"
"""Built from ``images/servicebus`` (on the control-plane image) by ``localzure-cp images build``."""

DEFAULT_KEY_NAME = "RootManageSharedAccessKey"
DEFAULT_KEY = "SAS_KEY_VALUE"
"""The official emulator's key, which its users' connection strings already carry."""


class ServiceBusAdapter(Adapter):
    name = "servicebus"
    default_port = 5672
    hostname_suffixes = (".servicebus.windows.net",)
    account_in_path = False
    speaks_amqp = True

    def create_service(self, context: ServiceContext) -> Service:
        from adapters.servicebus.service import ServiceBusService

        return ServiceBusService(context)

    def container_spec(self, image: str | None = None) -> ContainerSpec | None:
        return super().container_spec(image or IMAGE)

    def container_settings(self, settings: Mapping[str, Any]) -> Mapping[str, Any]:
        from adapters.servicebus.config import with_config_file_inline

        # Relative to the control plane's working directory, as in host mode (service.py).
        return with_config_file_inline(settings, Path.cwd())

    def connection_string(self, account: str, key: str, endpoint: str) -> str | None:
        authority = endpoint.split("://", 1)[-1].rstrip("/")
        return (
            f"Endpoint=sb://{authority};SharedAccessKeyName={DEFAULT_KEY_NAME};"
            f"SharedAccessKey={DEFAULT_KEY};UseDevelopmentEmulator=true;"
        )
