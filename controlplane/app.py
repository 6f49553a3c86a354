"""Assembles a runtime from settings: the adapters to run, in order, each with its runner."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

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
            raise RegistryError(f"unknown service(s): {', '.join(unknown)} (installed: {', '.join(sorted(available))})")
        chosen = [available[name] for name in wanted]
    else:
        chosen = [a for name, a in available.items() if settings.service(name).enabled]
    return start_order(chosen)


class RunnerChooser:
    """Picks each service's runner from ``mode``: host, docker, external, or auto (Docker
    when an engine answers, else host). Docker mode builds missing images; auto does not
    (a service whose image is missing runs in host mode with a warning)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: Any = None
        self._engine_error: str | None = None

    def __call__(self, runtime: Runtime, adapter: Adapter) -> Runner:
        mode = self.settings.mode
        if mode == "host":
            return HostRunner(runtime)
        if mode == "external":
            from controlplane.runners.external import ExternalRunner

            return ExternalRunner(runtime)
        session = self._docker_session()
        if session is None:
            if mode == "docker":
                from controlplane.runners.docker_unavailable import UnavailableDockerRunner

                return UnavailableDockerRunner(self._engine_error or "no Docker engine")
            return HostRunner(runtime)
        from controlplane.runners.docker import DockerRunner

        return DockerRunner(runtime, session)

    def _docker_session(self) -> Any:
        if self._session is None and self._engine_error is None:
            from controlplane.runners.docker import DockerSession
            from controlplane.runners.engine import DockerEngine, EngineUnavailable

            try:
                engine = DockerEngine.connect()
            except EngineUnavailable as exc:
                self._engine_error = str(exc)
                level = logging.ERROR if self.settings.mode == "docker" else logging.INFO
                log.log(level, "%s; services run in host mode", exc)
                return None
            self._session = DockerSession(engine, self.settings.data_dir, build_images=self.settings.mode == "docker")
        return self._session


def build_runtime(settings: Settings, only: Iterable[str] | None = None) -> Runtime:
    try:
        return Runtime(settings, select_adapters(settings, only), RunnerChooser(settings))
    except ValueError as exc:  # a custom route names a service that is not installed
        raise RegistryError(str(exc)) from exc
