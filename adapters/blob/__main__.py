"""run the blob emulator alone: ``python -m adapters.blob [--host H] [--port P] [--data-dir D] [--in-memory]``.

This is what the container runs, so host mode and Docker mode execute the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from controlplane.config import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m adapters.blob", description="Azure Blob Storage emulator")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="blob port (default 10000)")
    parser.add_argument("--data-dir", type=Path, help="where state lives")
    parser.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    return parser


async def _serve(settings: Any) -> None:
    from controlplane.app import build_runtime

    runtime = build_runtime(settings, only=["blob"])
    await runtime.start()
    await runtime.serve_until_signal()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli: dict[str, Any] = {"mode": "host", "host": args.host, "data_dir": args.data_dir}
    if args.port is not None:
        cli["services.blob.port"] = args.port
    if args.in_memory:
        cli["persistence"] = "memory"
    try:
        settings = load_settings(cli={k: v for k, v in cli.items() if v is not None})
    except ConfigError as exc:
        print(f"adapters.blob: {exc}", file=sys.stderr)
        return 2
    from controlplane.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format, settings.log_levels)
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
