"""What the Docker runners of one control plane share, and how container output is logged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from controlplane.runners.containers import Verdict, judge, this_owner
from controlplane.runners.engine import LABEL_MANAGED, LABEL_OWNER, DockerEngine, EngineError, EventStream
from controlplane.runners.images import ImageBuilder

log = logging.getLogger("controlplane.runners.docker")
container_log = logging.getLogger("controlplane.container")

KEEP_FILE = "localzure.keep"
"""``localzure-cp stop --keep`` leaves this in the data dir: stop then leaves containers running."""


class DockerSession:
    """What the Docker runners of one control plane share: the engine, who we are, the
    images, one events stream and the orphan sweep."""

    def __init__(self, engine: DockerEngine, data_dir: Path, build_images: bool) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.owner = this_owner()
        self.build_images = build_images
        self.builder = ImageBuilder(engine, progress=lambda line: log.info("image build: %s", line))
        self._swept = False
        self._sweep_lock = threading.Lock()
        self._handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._events: EventStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active = 0

    def sweep_orphans(self) -> list[str]:
        """Once per session: remove managed containers whose control plane is gone."""
        with self._sweep_lock:
            if self._swept:
                return []
            self._swept = True
            removed = []
            for info in self.engine.managed():
                if judge(info, self.owner) == Verdict.ORPHAN:
                    log.warning(
                        "removing orphan container %s (%s) left by control plane %s",
                        info.name,
                        info.id[:12],
                        info.labels.get(LABEL_OWNER, "?"),
                        extra={"container": info.name},
                    )
                    self.engine.remove(info.id, stop_timeout=1)
                    removed.append(info.name)
            return removed

    def watch(self, container_id: str, handler: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``handler(action, event)`` on the loop for each event of the container."""
        self._handlers[container_id] = handler
        if self._events is None:
            self._loop = asyncio.get_running_loop()
            self._events = self.engine.events({LABEL_MANAGED: "true", LABEL_OWNER: str(self.owner)})
            threading.Thread(target=self._follow, args=(self._events,), name="docker-events", daemon=True).start()

    def unwatch(self, container_id: str) -> None:
        self._handlers.pop(container_id, None)

    def _follow(self, events: EventStream) -> None:
        try:
            for event in events:
                handler = self._handlers.get(event.get("id", ""))
                if handler is not None and self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(handler, str(event.get("Action", "")), event)
        except EngineError as exc:
            log.error("lost the Docker events stream: %s", exc)

    def acquire(self) -> None:
        self._active += 1

    def release(self) -> None:
        self._active -= 1
        if self._active <= 0:
            if self._events is not None:
                self._events.close()
                self._events = None
            (self.data_dir / KEEP_FILE).unlink(missing_ok=True)

    def keep_requested(self) -> bool:
        """Did ``stop --keep`` ask this process (the file names its pid) to keep its containers?"""
        try:
            return (self.data_dir / KEEP_FILE).read_text().strip() == str(os.getpid())
        except OSError:
            return False


def relay_logs(service: str, container: str, lines: Iterator[tuple[str, str]]) -> None:
    """Each line of a container's output becomes a record of the control plane's log."""
    for stream, line in lines:
        if not line.strip():
            continue
        level, message = logging.INFO, line
        if line.startswith("{"):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                record = json.loads(line)
                message = str(record.get("message", line))
                level = logging.getLevelName(str(record.get("level", "INFO")).upper())
                if not isinstance(level, int):
                    level = logging.INFO
        container_log.log(level, "%s", message, extra={"service": service, "container": container, "stream": stream})
