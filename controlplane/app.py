"""Assembles a runtime from settings: the adapters to run, in order, each with its runner."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from controlplane.adapter import Adapter
from controlplane.config import Settings
from controlplane.registry import RegistryError, discover, start_order
from controlplane.runners.base import Runner
from controlplane.runners.host import HostRunner
from controlplane.runtime import Runtime

log = logging.getLogger(__name__)


def select_adapters(settings: Settings, only: Iterable[str] | None = None) -> list[Adapter]:
    """The enabled adapters (or just ``only``), in start order."""
    available = discover()
    if only is not None:
        wanted = list(only)
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise RegistryError(
                f"unknown service(s): {', '.join(unknown)} (installed: {', '.join(sorted(available))})"
            )
        chosen = [available[name] for name in wanted]
    else:
        chosen = [a for name, a in available.items() if settings.service(name).enabled]
    return start_order(chosen)


def _runner_for(runtime: Runtime, adapter: Adapter) -> Runner:
    return HostRunner(runtime)


def build_runtime(settings: Settings, only: Iterable[str] | None = None) -> Runtime:
    return Runtime(settings, select_adapters(settings, only), _runner_for)
