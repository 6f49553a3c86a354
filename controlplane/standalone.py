"""One service alone, without the rest of the control plane: what ``python -m adapters.<name>``
runs, and so what a service's container runs. Host mode and Docker mode execute the same code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from controlplane import eventloop
from controlplane.config import ConfigError, Settings, load_settings


def run_alone(service: str, description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m adapters.{service}", description=description)
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="the service's port (default: its usual one)")
    parser.add_argument("--data-dir", type=Path, help="where state lives")
    parser.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    args = parser.parse_args(argv)
    cli: dict[str, Any] = {"mode": "host", "host": args.host, "data_dir": args.data_dir}
    if args.port is not None:
        cli[f"services.{service}.port"] = args.port
    if args.in_memory:
        cli["persistence"] = "memory"
    try:
        settings = load_settings(cli={k: v for k, v in cli.items() if v is not None})
    except ConfigError as exc:
        print(f"adapters.{service}: {exc}", file=sys.stderr)
        return 2
    from controlplane.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format, settings.log_levels)
    eventloop.run(_serve(settings, service), settings.poll_window_us / 1e6)
    return 0


async def _serve(settings: Settings, service: str) -> None:
    from controlplane.app import build_runtime

    runtime = build_runtime(settings, only=[service])
    await runtime.start()
    await runtime.serve_until_signal()
