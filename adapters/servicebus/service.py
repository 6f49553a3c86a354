"""The in-process Service Bus: the broker, its AMQP application, and the management REST API.

Entities come from ``services.servicebus`` (our YAML, or the official emulator's
Config.json through ``config_file``) and from the management API; the namespace's SAS
keys from ``services.servicebus.keys`` (default: the official emulator's
``RootManageSharedAccessKey`` / ``SAS_KEY_VALUE``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from adapters.servicebus.adapter import DEFAULT_KEY, DEFAULT_KEY_NAME
from adapters.servicebus.amqp import serve
from adapters.servicebus.broker import Broker
from adapters.servicebus.config import load_service_config
from adapters.servicebus.links.application import ServiceBusApplication
from adapters.servicebus.metrics import metric_families
from adapters.servicebus.rest import ManagementApi
from controlplane.adapter import AmqpHandler, Operation, RequestTarget, Service, ServiceContext

DEFAULT_NAMESPACE = "localzure"


class ServiceBusService(Service):
    auth_scheme = "none"  # SAS tokens are checked here: in Authorization headers and on $cbs
    error_format = "xml"

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.broker = Broker(context.state)
        self.namespaces = load_service_config(context.settings, Path.cwd())
        self.namespace = self.namespaces[0].name if self.namespaces else DEFAULT_NAMESPACE
        self.api = ManagementApi(self.broker, self.keys, self.namespace)
        self._amqp = functools.partial(serve, app=ServiceBusApplication(self.broker, self.keys))

    def keys(self) -> Mapping[str, str]:
        configured = self.context.settings.get("keys")
        if isinstance(configured, Mapping) and configured:
            return {str(k): str(v) for k, v in configured.items()}
        return {DEFAULT_KEY_NAME: DEFAULT_KEY}

    async def start(self) -> None:
        self.broker.load()
        for namespace in self.namespaces:
            await self.broker.apply_config(namespace)
        self.broker.start()

    async def stop(self) -> None:
        await self.broker.close()

    def amqp(self) -> AmqpHandler:
        return self._amqp

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        return Operation(name=f"Management{method.capitalize()}", anonymous=True)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.api(scope, receive, send)

    def metrics(self) -> Iterable[Metric]:
        return metric_families(self.namespace, self.broker.message_counters())

    def health(self) -> dict[str, Any]:
        """Per-entity counts and the message counters summed over the entities there are, for the admin API."""
        broker = self.broker
        runtimes = {queue.name: broker.queue_runtime(queue.name) for queue in broker.list_queues()}
        for topic in broker.list_topics():
            for subscription in broker.list_subscriptions(topic.name):
                path = f"{topic.name}/Subscriptions/{subscription.name}"
                runtimes[path] = broker.subscription_runtime(topic.name, subscription.name)
        counters = [path.counters for path in broker.message_counters()]
        return {
            "entities": {
                path: {
                    "active": runtime.active_message_count,
                    "dead_letter": runtime.dead_letter_message_count,
                    "scheduled": runtime.scheduled_message_count,
                }
                for path, runtime in runtimes.items()
            },
            "messages_in": sum(c.sent for c in counters),
            "messages_out": sum(c.completed for c in counters),
            "dead_lettered": sum(sum(c.dead_lettered.values()) for c in counters),
            "lock_losses": sum(c.lock_lost for c in counters),
        }
