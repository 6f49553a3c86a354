"""``localzure-cp``: start, stop and inspect LocalZure."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from controlplane.config import ConfigError, Settings, load_settings, redacted

from controlplane.serve import PID_FILE

DETACHED_LOG = "localzure.log"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="YAML or JSON config file")
    common.add_argument("--data-dir", type=Path, help="where state, logs and the pid file live")
    common.add_argument("--host", help="address to bind (default 127.0.0.1)")
    common.add_argument("--port", type=int, help="edge and admin port (default 8080)")

    parser = argparse.ArgumentParser(prog="localzure-cp", description="LocalZure: Azure services on your machine.")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", parents=[common], help="start LocalZure (foreground until Ctrl-C)")
    start.add_argument("--mode", choices=["auto", "host", "docker"], help="where services run")
    start.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    start.add_argument("--services", help="comma-separated services to run (default: all enabled)")
    start.add_argument("--detach", action="store_true", help="run in the background (pid and log file in data dir)")
    start.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    start.add_argument("--log-format", choices=["json", "text"], help="json lines (default) or text")
    start.add_argument("--log-file", type=Path, help="also write logs here, rotated by size")

    stop = sub.add_parser("stop", parents=[common], help="stop a LocalZure started from this data dir")
    stop.add_argument("--timeout", type=float, default=35.0, help="seconds to wait for it to exit")

    status = sub.add_parser("status", parents=[common], help="services, their state, mode and endpoint")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    logs = sub.add_parser("logs", parents=[common], help="recent log lines (of one service)")
    logs.add_argument("service", nargs="?", help="one service (default: everything)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=100, help="how many recent lines")

    wait = sub.add_parser("wait", parents=[common], help="exit 0 once LocalZure is healthy")
    wait.add_argument("--timeout", type=float, default=30.0)

    sub.add_parser("connection-strings", parents=[common], help="ready-to-paste connection strings")

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("show", parents=[common], help="the effective config, secrets redacted")

    hosts = sub.add_parser("hosts", parents=[common], help="/etc/hosts lines for the configured accounts")
    hosts.add_argument("--apply", action="store_true", help="write them to /etc/hosts")
    return parser


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "host", "port", "mode", "log_level", "log_format", "log_file"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "in_memory", False):
        overrides["persistence"] = "memory"
    return overrides


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(cli=_cli_overrides(args), config_file=args.config)


def _admin_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/_localzure"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"localzure-cp: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    command = args.command if args.command != "config" else f"config-{args.config_command}"
    handler = _COMMANDS[command]
    try:
        return handler(args, settings)
    except httpx.HTTPError as exc:
        print(f"localzure-cp: LocalZure is not answering at {_admin_url(settings)} ({exc})", file=sys.stderr)
        return 1


def _start(args: argparse.Namespace, settings: Settings) -> int:
    if args.detach:
        return _start_detached(args, settings)
    from controlplane.serve import serve

    services = [s.strip() for s in args.services.split(",") if s.strip()] if args.services else None
    return serve(settings, services, config_file=args.config, cli=_cli_overrides(args))


def _start_detached(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    argv = ["start"]
    for name in ("config", "data_dir", "host", "port", "mode", "services", "log_level", "log_format", "log_file"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    if args.in_memory:
        argv.append("--in-memory")
    log_path = settings.data_dir / DETACHED_LOG
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "controlplane", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(f"localzure-cp: start failed (exit {child.returncode}); see {log_path}", file=sys.stderr)
            return 1
        if _healthy(settings):
            print(f"LocalZure running in the background (pid {child.pid}); logs: {log_path}")
            return 0
        time.sleep(0.1)
    print(f"localzure-cp: not healthy after 60s; see {log_path}", file=sys.stderr)
    return 1


def _healthy(settings: Settings) -> bool:
    try:
        response = httpx.get(f"{_admin_url(settings)}/health", timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("status") == "healthy"


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    pid_file = settings.data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        print(f"localzure-cp: no LocalZure running from {settings.data_dir} (no pid file)", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"localzure-cp: process {pid} is gone; removed a stale pid file", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"LocalZure (pid {pid}) stopped")
            return 0
        time.sleep(0.1)
    print(f"localzure-cp: process {pid} did not exit within {args.timeout}s", file=sys.stderr)
    return 1


def _status(args: argparse.Namespace, settings: Settings) -> int:
    base = _admin_url(settings)
    health = httpx.get(f"{base}/health", timeout=5).json()
    services = httpx.get(f"{base}/services", timeout=5).json()
    if args.json:
        print(json.dumps({"health": health, "services": services}, indent=2))
        return 0 if health["status"] == "healthy" else 1
    print(f"LocalZure {health['version']}: {health['status']} (up {health['uptime']:.0f}s)")
    print(f"{'SERVICE':<14}{'STATE':<12}{'MODE':<8}ENDPOINT")
    for item in services:
        print(f"{item['name']:<14}{item['state']:<12}{item['mode']:<8}{item['endpoint'] or '-'}")
    return 0 if health["status"] == "healthy" else 1


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    base = _admin_url(settings)
    url = f"{base}/services/{args.service}/logs" if args.service else f"{base}/logs"
    params = {"tail": str(args.tail), "follow": "true" if args.follow else "false"}
    if not args.follow:
        response = httpx.get(url, params=params, timeout=10)
        if response.status_code == 404:
            print(f"localzure-cp: {response.json()['detail']}", file=sys.stderr)
            return 1
        for line in response.json():
            print(_format_log_line(line))
        return 0
    try:
        with httpx.stream("GET", url, params=params, timeout=None) as response:
            if response.status_code == 404:
                print(f"localzure-cp: unknown service '{args.service}'", file=sys.stderr)
                return 1
            for raw in response.iter_lines():
                if raw.strip():
                    print(_format_log_line(json.loads(raw)), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _format_log_line(line: dict[str, Any]) -> str:
    service = f" [{line['service']}]" if line.get("service") else ""
    return f"{line.get('timestamp', '')} {line.get('level', ''):<7}{service} {line.get('message', '')}"


def _wait(args: argparse.Namespace, settings: Settings) -> int:
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if _healthy(settings):
            print("healthy")
            return 0
        time.sleep(0.1)
    print(f"localzure-cp: not healthy within {args.timeout}s", file=sys.stderr)
    return 1


def _connection_strings(args: argparse.Namespace, settings: Settings) -> int:
    strings = httpx.get(f"{_admin_url(settings)}/connection-strings", timeout=5).json()
    for service, per_account in strings.items():
        for account, text in per_account.items():
            print(f"# {service} ({account})\n{text}\n")
    return 0


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(redacted(settings), indent=2))
    return 0


def _hosts(args: argparse.Namespace, settings: Settings) -> int:
    from controlplane.hosts import apply_hosts, hosts_lines
    from controlplane.registry import discover

    lines = hosts_lines(settings.accounts, discover().values())
    if not args.apply:
        print("\n".join(lines))
        return 0
    path = Path(os.environ.get("LOCALZURE_HOSTS_FILE", "/etc/hosts"))
    try:
        apply_hosts(path, lines)
    except OSError as exc:
        print(f"localzure-cp: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(lines)} line(s) to {path}")
    return 0


_COMMANDS = {
    "start": _start,
    "stop": _stop,
    "status": _status,
    "logs": _logs,
    "wait": _wait,
    "connection-strings": _connection_strings,
    "config-show": _config_show,
    "hosts": _hosts,
}


if __name__ == "__main__":
    sys.exit(main())
