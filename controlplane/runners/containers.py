"""What a Docker-mode service's container looks like, and who owns which container.

Pure functions and records (no engine calls), so the label and orphan rules have their
own unit tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controlplane.adapter import Adapter, ContainerSpec
from controlplane.runners.engine import LABEL_DATA, LABEL_MANAGED, LABEL_OWNER, LABEL_SERVICE, ContainerInfo
from controlplane.runners.images import AZURITE_IMAGE

AZURITE_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
AZURITE_SERVICES = tuple(AZURITE_PORTS)


def container_name(service: str) -> str:
    return f"localzure-{service}"


def volume_name(service: str, data_dir: Path) -> str:
    """One volume per service and data dir: two data dirs never share state, as in host mode."""
    digest = hashlib.sha256(str(Path(data_dir).expanduser().absolute()).encode()).hexdigest()[:10]
    return f"localzure-{service}-{digest}"


def labels(service: str, owner: str, data_dir: Path) -> dict[str, str]:
    return {
        LABEL_MANAGED: "true",
        LABEL_SERVICE: service,
        LABEL_OWNER: owner,
        LABEL_DATA: str(Path(data_dir).expanduser().absolute()),
    }


# --- owners ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """A control plane: ``host/pid/process-start-time/nonce``."""

    host: str
    pid: int
    started: int
    nonce: str

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}/{self.nonce}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.split("/")
        if len(parts) != 4:
            return None
        try:
            return cls(parts[0], int(parts[1]), int(parts[2]), parts[3])
        except ValueError:
            return None


def _process_start(pid: int) -> int | None:
    try:
        import psutil

        return int(psutil.Process(pid).create_time())
    except Exception:  # gone, or not ours to see: the caller decides what that means
        return None


def this_owner() -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, _process_start(pid) or int(time.time()), uuid.uuid4().hex[:8])


def owner_alive(owner: Owner, host: str | None = None, start_of: Callable[[int], int | None] = _process_start) -> bool:
    """Is the control plane that created a container still running?

    Only owners on this host can be checked; one elsewhere is assumed alive (never
    remove what we cannot prove abandoned). A reused pid is told apart by its start time.
    """
    if owner.host != (host or socket.gethostname()):
        return True
    started = start_of(owner.pid)
    return started is not None and abs(started - owner.started) <= 1


class Verdict:
    OURS = "ours"
    ORPHAN = "orphan"
    FOREIGN_OWNER = "owned by another running control plane"
    UNMANAGED = "not managed by LocalZure"


def judge(info: ContainerInfo, me: Owner, alive: Callable[[Owner], bool] = owner_alive) -> str:
    """What start may do with an existing container: remove it (ours, orphan) or not."""
    if not info.managed:
        return Verdict.UNMANAGED
    text = info.labels.get(LABEL_OWNER, "")
    if text == str(me):
        return Verdict.OURS
    owner = Owner.parse(text)
    if owner is None or not alive(owner):
        return Verdict.ORPHAN
    return Verdict.FOREIGN_OWNER


# --- specs ---------------------------------------------------------------------------------


def azurite_spec(service: str, image: str | None = None) -> ContainerSpec:
    """One Azurite service per container, listening on all interfaces inside it."""
    port = AZURITE_PORTS[service]
    # Listening on the port, read from the kernel's socket table: grep starts in a millisecond
    # where a node probe takes a tenth of a second, so the check can run often. (Both the
    # official Alpine image and ours have grep.)
    listening = f":{port:04X} 0+:0000 0A"
    return ContainerSpec(
        image=image or AZURITE_IMAGE,
        ports={port: service},
        command=(
            f"azurite-{service}",
            f"--{service}Host",
            "0.0.0.0",
            f"--{service}Port",
            str(port),
            "--location",
            "/data",
            "--loose",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            # No access log: a line per request would cost the control plane more than the request.
            "--silent",
        ),
        healthcheck=("grep", "-qsE", listening, "/proc/net/tcp", "/proc/net/tcp6"),
        volume_path="/data",
    )


def spec_for(adapter: Adapter, settings: Mapping[str, object], image: str | None) -> ContainerSpec | None:
    """The container a service runs in: Azurite for storage unless ``emulator: localzure``."""
    emulator = str(settings.get("emulator") or "azurite").lower()
    if adapter.name in AZURITE_SERVICES and emulator == "azurite":
        return azurite_spec(adapter.name, image)
    spec = adapter.container_spec(image)
    handed = adapter.container_settings(settings)
    if spec is None or not handed:
        return spec
    # The emulator in the container reads its settings from LOCALZURE_* (JSON for a whole
    # service), the same ones the in-process service would get from the control plane's config.
    variable = f"LOCALZURE_SERVICES__{adapter.name.upper()}"
    return dataclasses.replace(spec, env={**spec.env, variable: json.dumps(handed, default=str)})
