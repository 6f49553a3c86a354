"""Finds adapters through the ``localzure.adapters`` entry points and orders them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from controlplane.adapter import Adapter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "localzure.adapters"


class RegistryError(Exception):
    """An adapter cannot be loaded or its dependencies cannot be satisfied."""


def discover() -> dict[str, Adapter]:
    """Every installed adapter by name."""
    adapters: dict[str, Adapter] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = entry.load()
            adapter = factory()
        except Exception as exc:
            raise RegistryError(f"adapter '{entry.name}' ({entry.value}) failed to load: {exc}") from exc
        if not isinstance(adapter, Adapter):
            raise RegistryError(f"adapter '{entry.name}' ({entry.value}) is not an Adapter")
        adapters[adapter.name] = adapter
    return adapters


def start_order(adapters: Iterable[Adapter]) -> list[Adapter]:
    """Adapters ordered so each starts after what it depends on.

    A missing dependency or a cycle raises RegistryError naming the services involved.
    """
    by_name = {adapter.name: adapter for adapter in adapters}
    for adapter in by_name.values():
        missing = [dep for dep in adapter.depends_on if dep not in by_name]
        if missing:
            raise RegistryError(
                f"service '{adapter.name}' depends on {', '.join(repr(m) for m in missing)}, "
                "which is not installed or not enabled"
            )
    ordered: list[Adapter] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name) :] + [name]
            raise RegistryError(f"dependency cycle: {' -> '.join(cycle)}")
        visiting.append(name)
        for dep in by_name[name].depends_on:
            visit(dep)
        visiting.pop()
        done.add(name)
        ordered.append(by_name[name])

    for name in sorted(by_name):
        visit(name)
    return ordered
