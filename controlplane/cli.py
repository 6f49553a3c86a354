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
    start.add_argument("--mode", choices=["auto", "host", "docker", "external"], help="where services run")
    start.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    start.add_argument("--services", help="comma-separated services to run (default: all enabled)")
    start.add_argument("--detach", action="store_true", help="run in the background (pid and log file in data dir)")
    start.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    start.add_argument("--log-format", choices=["json", "text"], help="json lines (default) or text")
    start.add_argument("--log-file", type=Path, help="also write logs here, rotated by size")

    stop = sub.add_parser("stop", parents=[common], help="stop a LocalZure started from this data dir")
    stop.add_argument("--timeout", type=float, default=35.0, help="seconds to wait for it to exit")
    stop.add_argument("--keep", action="store_true", help="leave Docker-mode containers running")

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

    images = sub.add_parser("images", help="the Docker images Docker mode runs")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    build = images_sub.add_parser("build", parents=[common], help="build LocalZure's images (no registry needed)")
    build.add_argument("--base-image", help="base image (default: localzure/base:bookworm, made by debootstrap)")
    build.add_argument("--ca-bundle", type=Path, help="CA bundle the builds trust (default: this machine's)")
    build.add_argument("--force", action="store_true", help="rebuild images that exist")

    cert = sub.add_parser("cert", help="the local CA that HTTPS and the proxy use")
    cert_sub = cert.add_subparsers(dest="cert_command", required=True)
    export = cert_sub.add_parser("export", parents=[common], help="print (or write) the CA certificate PEM")
    export.add_argument("--out", type=Path, help="write it to this file instead of printing it")

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
    command = args.command
    if command in ("config", "images", "cert"):
        command = f"{command}-{getattr(args, command + '_command')}"
    handler = _COMMANDS[command]
    try:
        return handler(args, settings)
    except NotAnswering as exc:
        print(f"localzure-cp: LocalZure is not answering at {_admin_url(settings)} ({exc})", file=sys.stderr)
        return 1


class NotAnswering(Exception):
    """The admin API of a running LocalZure could not be reached."""


def _admin_get(settings: Settings, path: str, **params: str) -> Any:
    """GET an admin endpoint; the decoded JSON body, or NotAnswering."""
    import httpx  # only the commands that talk to a running instance pay for it

    try:
        response = httpx.get(f"{_admin_url(settings)}{path}", params=params, timeout=10)
    except httpx.HTTPError as exc:
        raise NotAnswering(str(exc)) from None
    if response.status_code == 404:
        raise LookupError(response.json().get("detail", "not found"))
    return response.json()


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
        return bool(_admin_get(settings, "/health").get("status") == "healthy")
    except NotAnswering:
        return False


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    pid_file = settings.data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        print(f"localzure-cp: no LocalZure running from {settings.data_dir} (no pid file)", file=sys.stderr)
        return 1
    if args.keep:
        from controlplane.runners.docker_session import KEEP_FILE

        (settings.data_dir / KEEP_FILE).write_text(str(pid))
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"localzure-cp: process {pid} is gone; removed a stale pid file", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            print(f"LocalZure (pid {pid}) stopped")
            return 0
        time.sleep(0.1)
    print(f"localzure-cp: process {pid} did not exit within {args.timeout}s", file=sys.stderr)
    return 1


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie waiting for its parent to reap it has exited)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _status(args: argparse.Namespace, settings: Settings) -> int:
    health = _admin_get(settings, "/health")
    services = _admin_get(settings, "/services")
    if args.json:
        print(json.dumps({"health": health, "services": services}, indent=2))
        return 0 if health["status"] == "healthy" else 1
    print(f"LocalZure {health['version']}: {health['status']} (up {health['uptime']:.0f}s)")
    print(f"{'SERVICE':<14}{'STATE':<12}{'MODE':<8}ENDPOINT")
    for item in services:
        print(f"{item['name']:<14}{item['state']:<12}{item['mode']:<8}{item['endpoint'] or '-'}")
        container = item.get("container")
        if container:
            ports = ", ".join(f"{k}->{v}" for k, v in container["ports"].items())
            print(
                f"{'':<14}container {container['name']} {container['id']} {container['image']}: "
                f"{container['status']}/{container['health'] or '-'}, ports {ports or '-'}, "
                f"started {container['started_at']}, restarts {container['restart_count']}"
            )
    return 0 if health["status"] == "healthy" else 1


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    path = f"/services/{args.service}/logs" if args.service else "/logs"
    try:
        if not args.follow:
            for line in _admin_get(settings, path, tail=str(args.tail)):
                print(_format_log_line(line))
            return 0
        _follow(settings, path, args.tail)
    except LookupError as exc:
        print(f"localzure-cp: {exc.args[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _follow(settings: Settings, path: str, tail: int) -> None:
    import httpx

    params = {"tail": str(tail), "follow": "true"}
    try:
        with httpx.stream("GET", f"{_admin_url(settings)}{path}", params=params, timeout=None) as response:
            if response.status_code == 404:
                raise LookupError(f"unknown service in {path}")
            for raw in response.iter_lines():
                if raw.strip():
                    print(_format_log_line(json.loads(raw)), flush=True)
    except httpx.HTTPError as exc:
        raise NotAnswering(str(exc)) from None


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
    strings = _admin_get(settings, "/connection-strings")
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


def _images_build(args: argparse.Namespace, settings: Settings) -> int:
    from controlplane.runners.engine import DockerEngine, EngineError
    from controlplane.runners.images import BASE_IMAGE, ImageBuilder

    try:
        engine = DockerEngine.connect()
        builder = ImageBuilder(
            engine,
            base_image=args.base_image or BASE_IMAGE,
            ca_bundle=args.ca_bundle,
            progress=lambda line: print(line, flush=True),
        )
        built = builder.build_all(force=args.force)
    except EngineError as exc:
        print(f"localzure-cp: images build failed: {exc}", file=sys.stderr)
        return 1
    print(f"images ready ({', '.join(built) or 'nothing to build'})")
    return 0


def _cert_export(args: argparse.Namespace, settings: Settings) -> int:
    from controlplane.registry import discover
    from controlplane.tls import export_ca

    suffixes = [suffix for adapter in discover().values() for suffix in adapter.hostname_suffixes]
    try:
        pem = export_ca(settings.tls_dir(), suffixes)
        if args.out is None:
            sys.stdout.write(pem.decode("ascii"))
            return 0
        args.out.expanduser().write_bytes(pem)
    except OSError as exc:
        print(f"localzure-cp: cannot export the CA: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the LocalZure CA certificate to {args.out}", file=sys.stderr)
    return 0


_COMMANDS = {
    "start": _start,
    "stop": _stop,
    "status": _status,
    "logs": _logs,
    "wait": _wait,
    "connection-strings": _connection_strings,
    "config-show": _config_show,
    "images-build": _images_build,
    "hosts": _hosts,
    "cert-export": _cert_export,
}


if __name__ == "__main__":
    sys.exit(main())
