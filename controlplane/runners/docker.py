"""Docker mode: each service in its own ``localzure-<service>`` container, watched.

The runner creates the container (labelled, on the ``localzure`` network, ports on
127.0.0.1, a per-service volume), waits until it answers, then serves the service's
port itself with a :class:`ForwardingService` in front of the container. The engine's
events stream (HEALTHCHECK results, exits) keeps the slot's state in step with the
container, and a container that exits or stays unhealthy is restarted with backoff, up
to a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from controlplane.adapter import ContainerSpec
from controlplane.runners.base import Runner, bind
from controlplane.runners.containers import (
    Verdict,
    container_name,
    judge,
    labels,
    spec_for,
    volume_name,
)
from controlplane.runners.docker_session import DockerSession, relay_logs
from controlplane.runners.engine import (
    ContainerConflict,
    ContainerInfo,
    CreateRequest,
    EngineError,
    ImageUnavailable,
)
from controlplane.runners.forward import ForwardingService
from controlplane.runners.host import HostRunner, service_listener
from controlplane.runners.probe import first_answering

if TYPE_CHECKING:
    from controlplane.runtime import Runtime, ServiceSlot

log = logging.getLogger(__name__)
# Seconds between inspections of a running container while waiting for its service to answer.
_INSPECT_WHILE_RUNNING = 1.0


class DockerRunner(Runner):
    """One service in one container; falls back to host mode when its image is unobtainable."""

    start_timeout = 60.0
    health_interval = 5.0
    """Seconds between HEALTHCHECK probes once started (each costs the engine ~65 ms of CPU)."""
    restart_attempts = 5
    unhealthy_grace = 15.0
    """Seconds a container may stay unhealthy before it is restarted."""

    def __init__(self, runtime: Runtime, session: DockerSession, fallback: HostRunner | None = None) -> None:
        self.runtime = runtime
        self.session = session
        self.fallback = fallback or HostRunner(runtime)
        self.mode = "docker"
        self.container: ContainerInfo | None = None
        self.spec: ContainerSpec | None = None
        self.restarts = 0
        self.forward: ForwardingService | None = None
        self._delegated = False
        self._ready = False
        self._stopping = False
        self._recovery: asyncio.Task[None] | None = None
        self._unhealthy: asyncio.Task[None] | None = None
        self._inspected = 0.0
        self._launching: asyncio.Task[bool] | None = None
        self._acquired = False
        self._backend = ""
        """Where the gateway forwards to: the container's address, or its published port."""

    # --- start / stop ------------------------------------------------------------------

    async def start(self, slot: ServiceSlot) -> None:
        self._stopping = False
        # Every Docker-mode service's container boots now, together; each start then
        # waits only for its own (the runtime still marks them running in order).
        for other in self.runtime.slots.values():
            if isinstance(other.runner, DockerRunner) and other.runner._launching is None and not other.runner._ready:
                other.runner.launch(other)
        try:
            launched = await self.launch(slot)
        except BaseException:
            await self._fail(slot)
            raise
        if not launched:
            self.mode, self._delegated = "host", True
            await self.fallback.start(slot)
            return
        self.session.acquire()
        self._acquired = True
        try:
            assert self.container is not None
            self.session.watch(self.container.id, lambda action, event: self._on_event(slot, action, event))
            await self._wait_ready(slot, self.start_timeout)
            error_format = "xml" if slot.name in ("blob", "queue") else "json"
            self.forward = ForwardingService(
                slot.name, self._backend, error_format, speaks_amqp=slot.adapter.speaks_amqp
            )
            slot.service = self.forward
            sock = bind(self.runtime.settings.host, slot.port)
            slot.listener = service_listener(self.runtime, slot, sock)
            await slot.listener.start()
            slot.port = slot.listener.port
            self._ready = True
        except BaseException:
            await self._fail(slot)
            raise

    def launch(self, slot: ServiceSlot) -> asyncio.Task[bool]:
        """Obtain the image and create and start the container (once); False: run in host mode."""
        if self._launching is None:
            self._launching = asyncio.create_task(self._prepare(slot), name=f"launch:{slot.name}")
        return self._launching

    async def _prepare(self, slot: ServiceSlot) -> bool:
        settings = self.runtime.settings.service(slot.name)
        try:
            spec = spec_for(slot.adapter, settings.model_extra or {}, settings.image)
            if spec is None:
                raise ImageUnavailable(f"{slot.name} has no container image")
            image = await asyncio.to_thread(self.session.builder.obtain, spec.image, self.session.build_images)
        except ImageUnavailable as exc:
            log.warning("service %s: %s; running it in host mode", slot.name, exc, extra={"service": slot.name})
            return False
        self.spec = spec
        await asyncio.to_thread(self.session.sweep_orphans)
        self.container = await asyncio.to_thread(self._create, slot, spec, image)
        return True

    async def _fail(self, slot: ServiceSlot) -> None:
        """This start failed: remove our container, and those launched ahead for services
        the runtime will now never start."""
        self._stopping = True
        await self._teardown(slot, remove=True)
        for other in self.runtime.slots.values():
            runner = other.runner
            if isinstance(runner, DockerRunner) and runner is not self and not (runner._ready or runner._delegated):
                await runner._discard(other)

    async def _discard(self, slot: ServiceSlot) -> None:
        if self._launching is None:
            return
        with contextlib.suppress(Exception):
            await self._launching
        self._stopping = True
        await self._teardown(slot, remove=True)

    async def stop(self, slot: ServiceSlot) -> None:
        if self._delegated:
            await self.fallback.stop(slot)
            return
        self._stopping = True
        keep = self.session.keep_requested()
        if keep and self.container is not None:
            log.info("keeping container %s (stop --keep)", self.container.name, extra=self._extra(slot))
        await self._teardown(slot, remove=not keep)

    async def _teardown(self, slot: ServiceSlot, remove: bool) -> None:
        self._ready = False
        for task in (self._recovery, self._unhealthy):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if slot.listener is not None:
            await slot.listener.stop(self.runtime.stop_grace)
            slot.listener = None
        if self.forward is not None:
            await self.forward.stop()
            self.forward = None
        slot.service = None
        if self.container is not None:
            self.session.unwatch(self.container.id)
            if remove:
                try:
                    await asyncio.to_thread(self.session.engine.remove, self.container.id)
                    log.info("removed container %s", self.container.name, extra=self._extra(slot))
                except EngineError as exc:
                    log.error("could not remove container %s: %s", self.container.name, exc, extra=self._extra(slot))
        self.container = None
        self._launching = None
        if self._acquired:
            self._acquired = False
            self.session.release()

    # --- the container -----------------------------------------------------------------

    def _create(self, slot: ServiceSlot, spec: ContainerSpec, image: str) -> ContainerInfo:
        engine = self.session.engine
        name = container_name(slot.name)
        existing = engine.find(name)
        if existing is not None:
            verdict = judge(existing, self.session.owner)
            if verdict in (Verdict.UNMANAGED, Verdict.FOREIGN_OWNER):
                raise ContainerConflict(
                    f"a container named {name} ({existing.id[:12]}, image {existing.image}) already exists and is "
                    f"{verdict}; LocalZure leaves it alone: remove or rename it to run {slot.name} in Docker mode"
                )
            log.warning("removing stale container %s (%s)", name, verdict, extra={"container": name})
            engine.remove(existing.id, stop_timeout=1)
        data_dir = self.runtime.settings.data_dir
        volume = None
        if self.runtime.settings.persistence != "memory":
            volume = volume_name(slot.name, data_dir)
            engine.ensure_volume(volume, labels(slot.name, str(self.session.owner), data_dir))
        engine.ensure_network()
        request = CreateRequest(
            name=name,
            image=image,
            labels=labels(slot.name, str(self.session.owner), data_dir),
            ports=tuple(spec.ports),
            command=spec.command,
            env=spec.env,
            healthcheck=spec.healthcheck,
            health_interval=self.health_interval,
            volume=volume,
            volume_path=spec.volume_path,
            aliases=(slot.name,),
        )
        info = engine.create(request)
        log.info(
            "created container %s (%s) from %s",
            name,
            info.id[:12],
            image,
            extra={"service": slot.name, "container": name},
        )
        return self._attach_and_start(slot, info.id, include_past=True)

    def _attach_and_start(self, slot: ServiceSlot, ident: str, include_past: bool) -> ContainerInfo:
        """Attach to the container's output, then start it (so no line is missed)."""
        engine = self.session.engine
        lines = engine.attach(ident, include_past)
        info = engine.start(ident)
        threading.Thread(
            target=relay_logs, args=(slot.name, info.name, lines), name=f"logs:{info.name}", daemon=True
        ).start()
        return info

    async def _wait_ready(self, slot: ServiceSlot, timeout: float) -> None:
        """Until the container's service answers HTTP; picks the address to forward to.

        The answer, not the first HEALTHCHECK, ends the start: Docker before 25 runs the
        first check a whole interval after the start, and a short interval costs the engine
        a tenth of a core per container (each check is an exec). The HEALTHCHECK then
        tracks the container's health through the events stream."""
        deadline = time.monotonic() + timeout
        engine = self.session.engine
        assert self.container is not None and self.spec is not None
        port = next(iter(self.spec.ports))
        endpoints: list[tuple[str, int]] | None = None
        info = self.container
        inspected = -math.inf
        while True:
            # Probing is a local connection; inspecting is an engine call that competes with the
            # booting containers for the CPU, so once running it runs once a second (to notice an exit).
            if info.status != "running" or time.monotonic() - inspected >= _INSPECT_WHILE_RUNNING:
                found = await asyncio.to_thread(engine.find, self.container.id)
                if found is None:
                    raise EngineError(f"container {self.container.name} disappeared while starting")
                self.container = info = found
                inspected = time.monotonic()
                if info.status in ("exited", "dead"):
                    raise EngineError(f"container {info.name} exited with code {info.exit_code} while starting")
            if info.status == "running":
                if endpoints is None:
                    if port not in info.ports:
                        raise EngineError(f"container {info.name} publishes no port for {port}")
                    endpoints = [(info.address, port)] if info.address else []
                    endpoints.append(("127.0.0.1", info.ports[port]))
                answering = await first_answering(endpoints)
                if answering is not None:
                    self._backend = "http://{}:{}".format(*answering)
                    return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"container {info.name} not answering after {timeout:.0f}s (health: {info.health}, "
                    f"last probe: {info.health_log or '-'})"
                )
            await asyncio.sleep(0.05)

    # --- watching ------------------------------------------------------------------------

    def _on_event(self, slot: ServiceSlot, action: str, event: dict[str, Any]) -> None:
        from controlplane.runtime import ServiceState

        if not self._ready or self._stopping:
            return
        extra = self._extra(slot)
        if action.startswith("health_status"):
            status = action.split(":", 1)[1].strip()
            log.info("container %s is %s", self._name(), status, extra=extra)
            if status == "healthy":
                self._cancel_unhealthy()
                if slot.state in (ServiceState.DEGRADED, ServiceState.STARTING):
                    slot.set_state(ServiceState.RUNNING)
            elif status == "unhealthy":
                if slot.state is ServiceState.RUNNING:
                    slot.set_state(ServiceState.DEGRADED, error=f"container {self._name()} is unhealthy")
                if self._unhealthy is None or self._unhealthy.done():
                    self._unhealthy = asyncio.create_task(self._restart_if_still_unhealthy(slot))
        elif action in ("die", "destroy") and self._recovery is None:
            code = (event.get("Actor") or {}).get("Attributes", {}).get("exitCode", "?")
            reason = f"container {self._name()} exited (code {code})" if action == "die" else "container removed"
            log.error("%s", reason, extra=extra)
            slot.set_state(ServiceState.FAILED, error=reason)
            self._recovery = asyncio.create_task(self._recover(slot, reason))
        elif action == "oom":
            log.error("container %s ran out of memory", self._name(), extra=extra)

    async def _restart_if_still_unhealthy(self, slot: ServiceSlot) -> None:
        from controlplane.runtime import ServiceState

        await asyncio.sleep(self.unhealthy_grace)
        if slot.state is ServiceState.DEGRADED and self._recovery is None and not self._stopping:
            reason = f"container {self._name()} unhealthy for {self.unhealthy_grace:.0f}s"
            log.error("%s; restarting it", reason, extra=self._extra(slot))
            self._recovery = asyncio.create_task(self._recover(slot, reason))

    def _cancel_unhealthy(self) -> None:
        if self._unhealthy is not None and not self._unhealthy.done():
            self._unhealthy.cancel()
        self._unhealthy = None

    async def _recover(self, slot: ServiceSlot, reason: str) -> None:
        from controlplane.runtime import ServiceState

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.restart_attempts),
                wait=wait_exponential(multiplier=0.5, max=10),
                reraise=True,
            ):
                with attempt:
                    if self._stopping:
                        return
                    self.restarts += 1
                    number = attempt.retry_state.attempt_number
                    log.warning(
                        "restarting %s (attempt %d of %d): %s",
                        self._name(),
                        number,
                        self.restart_attempts,
                        reason,
                        extra=self._extra(slot),
                    )
                    slot.set_state(ServiceState.STARTING)
                    self.container = await asyncio.to_thread(self._revive, slot)
                    self.session.watch(self.container.id, lambda action, event: self._on_event(slot, action, event))
                    await self._wait_ready(slot, self.start_timeout)
            if self.forward is not None:
                self.forward.retarget(self._backend)
            slot.set_state(ServiceState.RUNNING)
            log.info("container %s is back (restart %d)", self._name(), self.restarts, extra=self._extra(slot))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "giving up on %s after %d attempt(s): %s",
                self._name(),
                self.restart_attempts,
                exc,
                extra=self._extra(slot),
            )
            slot.set_state(ServiceState.FAILED, error=f"{reason}; restart failed: {exc}")
        finally:
            self._recovery = None

    def _revive(self, slot: ServiceSlot) -> ContainerInfo:
        """Start the stopped container again (its volume keeps the data), or re-create it."""
        engine = self.session.engine
        assert self.spec is not None and self.container is not None
        info = engine.find(self.container.id)
        if info is None:
            return self._create(slot, self.spec, self.container.image)
        if info.status == "running":
            engine.kill(info.id)
        return self._attach_and_start(slot, info.id, include_past=False)

    # --- reporting ---------------------------------------------------------------------

    def _name(self) -> str:
        return self.container.name if self.container is not None else "?"

    def _extra(self, slot: ServiceSlot) -> dict[str, str]:
        return {"service": slot.name, "container": self._name()}

    def endpoint(self, slot: ServiceSlot) -> str | None:
        return self.fallback.endpoint(slot)

    def health(self, slot: ServiceSlot) -> dict[str, Any]:
        if self._delegated or self.container is None:
            return {}
        info = self.container
        if time.monotonic() - self._inspected > 0.5:
            with contextlib.suppress(EngineError):
                info = self.container = self.session.engine.find(info.id) or info
            self._inspected = time.monotonic()
        return {
            "container": {
                "id": info.id[:12],
                "name": info.name,
                "image": info.image,
                "status": info.status,
                "health": info.health,
                "ports": {str(k): f"127.0.0.1:{v}" for k, v in info.ports.items()},
                "started_at": info.started_at,
                "restart_count": self.restarts + info.restart_count,
                "circuit": str(self.forward.breaker.state) if self.forward is not None else None,
            }
        }
