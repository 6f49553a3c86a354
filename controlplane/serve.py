"""``localzure-cp start`` in the foreground: logging, start-up, pid file, config watching, signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controlplane import eventloop
from controlplane.config import ConfigError, ConfigWatcher, Settings, load_settings
from controlplane.logs import set_levels, setup_logging
from controlplane.registry import RegistryError
from controlplane.runners.base import PortInUse
from controlplane.runtime import Runtime, StartupError

log = logging.getLogger("controlplane")

PID_FILE = "localzure.pid"


def serve(settings: Settings, services: list[str] | None, config_file: Path | None, cli: Mapping[str, Any]) -> int:
    """Run until SIGINT/SIGTERM; the exit code says whether start-up worked."""
    began = time.monotonic()
    setup_logging(
        settings.log_level,
        settings.log_format,
        settings.log_levels,
        settings.log_file,
        settings.log_file_max_bytes,
        settings.log_file_backups,
    )
    from controlplane.app import build_runtime

    try:
        runtime = build_runtime(settings, services)
    except RegistryError as exc:
        log.error("cannot start: %s", exc)
        print(f"localzure-cp: {exc}", file=sys.stderr)
        return 1
    return eventloop.run(_run(runtime, began, config_file, cli), settings.poll_window_us / 1e6)


async def _run(runtime: Runtime, began: float, config_file: Path | None, cli: Mapping[str, Any]) -> int:
    try:
        await runtime.start()
    except StartupError as exc:
        cause = exc.cause
        reason = str(cause) if isinstance(cause, PortInUse) else f"{type(cause).__name__}: {cause}"
        log.error("start-up failed: service '%s': %s", exc.service, reason)
        print(f"localzure-cp: service '{exc.service}' failed to start: {reason}", file=sys.stderr)
        return 1
    settings = runtime.settings
    pid_file = settings.data_dir / PID_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    log.info(
        "LocalZure ready in %.3fs: edge http://%s:%d, services %s",
        time.monotonic() - began,
        settings.host,
        runtime.edge.port if runtime.edge else settings.port,
        ", ".join(f"{s.name}:{s.port}" for s in runtime.slots.values()),
    )
    watcher_task = None
    if config_file is not None:

        def on_change(new: Settings, live: set[str]) -> None:
            runtime.apply_settings(new)
            set_levels(new.log_level, new.log_levels)
            log.info("config reloaded; applied live: %s", ", ".join(sorted(live)) or "nothing")

        def reload() -> Settings:
            return load_settings(cli=cli, config_file=config_file)

        watcher = ConfigWatcher(config_file, reload, on_change)
        watcher_task = asyncio.create_task(watcher.run())
    try:
        await runtime.serve_until_signal()
    finally:
        if watcher_task is not None:
            watcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConfigError):
                await watcher_task
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
    return 0
