"""The Docker engine behind the project's own small interface.

docker-py never leaks out of this module: callers get :class:`ContainerInfo` records
and :class:`EngineError` subclasses, and the blocking calls are theirs to put on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.runners.streams import EventStream, output_lines

log = logging.getLogger(__name__)

NETWORK = "localzure"
LABEL_MANAGED = "io.localzure.managed"
LABEL_SERVICE = "io.localzure.service"
LABEL_OWNER = "io.localzure.owner"
LABEL_DATA = "io.localzure.data-dir"


_NETWORK_LOCK = threading.Lock()


class EngineError(Exception):
    """A Docker operation failed; the message says which and why."""


class EngineUnavailable(EngineError):
    """No Docker engine answers."""


class ImageUnavailable(EngineError):
    """An image is neither present nor obtainable."""


class ContainerConflict(EngineError):
    """A container we would create exists and is not ours to remove."""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    status: str
    """created, running, exited, ..."""
    health: str | None
    """starting, healthy, unhealthy, or None without a HEALTHCHECK."""
    labels: Mapping[str, str]
    ports: Mapping[int, int] = field(default_factory=dict)
    """Container port -> published host port (127.0.0.1)."""
    started_at: str | None = None
    restart_count: int = 0
    exit_code: int | None = None
    health_log: str | None = None
    """The last health probe's output, for the log when a container turns unhealthy."""
    address: str | None = None
    """The container's IP address on the ``localzure`` network."""

    @property
    def managed(self) -> bool:
        return self.labels.get(LABEL_MANAGED) == "true"


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image: str
    labels: Mapping[str, str]
    ports: tuple[int, ...]
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    healthcheck: tuple[str, ...] = ()
    health_interval: float = 1.0
    volume: str | None = None
    volume_path: str = "/data"
    network: str = NETWORK
    aliases: tuple[str, ...] = ()


def _wrap(action: str, exc: Exception) -> EngineError:
    import docker.errors as derr

    if isinstance(exc, derr.ImageNotFound):
        return ImageUnavailable(f"{action}: {exc.explanation or exc}")
    if isinstance(exc, derr.APIError):
        return EngineError(f"{action}: {exc.explanation or exc}")
    if isinstance(exc, derr.DockerException | OSError):
        return EngineUnavailable(f"{action}: {exc}")
    return EngineError(f"{action}: {type(exc).__name__}: {exc}")


class DockerEngine:
    """One connection to the engine (``DOCKER_HOST`` or the default socket)."""

    def __init__(self, timeout: float = 60.0) -> None:
        import docker

        try:
            self._client = docker.from_env(timeout=timeout)
        except Exception as exc:
            raise EngineUnavailable(f"no Docker engine: {exc}") from None

    @classmethod
    def connect(cls, ping_timeout: float = 3.0) -> DockerEngine:
        """An engine that has answered a ping; EngineUnavailable otherwise."""
        probe = cls(timeout=ping_timeout)
        try:
            probe._client.ping()
        except Exception as exc:
            raise EngineUnavailable(f"no Docker engine answers: {exc}") from None
        finally:
            probe.close()
        return cls()

    def close(self) -> None:
        self._client.close()

    def version(self) -> str:
        try:
            return str(self._client.version().get("Version", "?"))
        except Exception as exc:
            raise _wrap("docker version", exc) from None

    # --- images ----------------------------------------------------------------------

    def has_image(self, image: str) -> bool:
        import docker.errors as derr

        try:
            self._client.images.get(image)
        except derr.ImageNotFound:
            return False
        except Exception as exc:
            raise _wrap(f"inspect image {image}", exc) from None
        return True

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The image's labels, or None when it is not here."""
        import docker.errors as derr

        try:
            raw = self._client.api.inspect_image(image)
        except derr.ImageNotFound:
            return None
        except Exception as exc:
            raise _wrap(f"inspect image {image}", exc) from None
        return dict((raw.get("Config") or {}).get("Labels") or {})

    def pull(self, image: str) -> None:
        try:
            self._client.images.pull(image)
        except Exception as exc:
            raise ImageUnavailable(f"cannot pull {image}: {_wrap('pull', exc)}") from None

    def build(
        self,
        context: Path,
        tag: str,
        buildargs: Mapping[str, str],
        progress: Callable[[str], None],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Builds ``context``'s Dockerfile, streaming the build log line by line to ``progress``."""
        try:
            stream = self._client.api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs),
                rm=True,
                forcerm=True,
                decode=True,
                labels=dict(labels or {}),
            )
            for chunk in stream:
                if "error" in chunk:
                    raise EngineError(f"building {tag}: {chunk['error'].strip()}")
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in text.splitlines():
                    if line.strip():
                        progress(line.rstrip())
        except EngineError:
            raise
        except Exception as exc:
            raise _wrap(f"build {tag}", exc) from None

    def import_image(self, tarball: Any, tag: str, changes: list[str]) -> None:
        repository, _, version = tag.partition(":")
        try:
            self._client.api.import_image_from_stream(
                tarball, repository=repository, tag=version or "latest", changes=changes
            )
        except Exception as exc:
            raise _wrap(f"import {tag}", exc) from None

    # --- networks and volumes --------------------------------------------------------

    def ensure_network(self, name: str = NETWORK) -> None:
        # The engine allows two networks of one name: creating them from two threads would.
        with _NETWORK_LOCK:
            self._ensure_network(name)

    def _ensure_network(self, name: str) -> None:
        try:
            if not self._client.networks.list(names=[name]):
                self._client.networks.create(name, driver="bridge", labels={LABEL_MANAGED: "true"})
                log.info("created Docker network %s", name)
        except Exception as exc:
            raise _wrap(f"network {name}", exc) from None

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        import docker.errors as derr

        try:
            try:
                self._client.volumes.get(name)
            except derr.NotFound:
                self._client.volumes.create(name, labels=dict(labels))
        except Exception as exc:
            raise _wrap(f"volume {name}", exc) from None

    def managed_volumes(self) -> dict[str, dict[str, str]]:
        """Volume name -> labels, for every volume LocalZure made."""
        try:
            found = self._client.api.volumes(filters={"label": f"{LABEL_MANAGED}=true"}).get("Volumes") or []
        except Exception as exc:
            raise _wrap("list volumes", exc) from None
        return {v["Name"]: dict(v.get("Labels") or {}) for v in found}

    def remove_volume(self, name: str) -> None:
        import docker.errors as derr

        try:
            self._client.volumes.get(name).remove(force=True)
        except derr.NotFound:
            return
        except Exception as exc:
            raise _wrap(f"remove volume {name}", exc) from None

    # --- containers ------------------------------------------------------------------

    def find(self, name: str) -> ContainerInfo | None:
        import docker.errors as derr

        try:
            return _info(self._client.api.inspect_container(name))
        except derr.NotFound:
            return None
        except Exception as exc:
            raise _wrap(f"inspect {name}", exc) from None

    def managed(self) -> list[ContainerInfo]:
        """Every container labelled as managed by a LocalZure control plane."""
        try:
            found = self._client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})
            return [info for c in found if (info := self.find(c["Id"])) is not None]
        except EngineError:
            raise
        except Exception as exc:
            raise _wrap("list containers", exc) from None

    def create(self, request: CreateRequest) -> ContainerInfo:
        api = self._client.api
        healthcheck = None
        if request.healthcheck:
            nanos = int(request.health_interval * 1e9)
            healthcheck = {
                "test": ["CMD", *request.healthcheck],
                "interval": nanos,
                "timeout": 3_000_000_000,
                "retries": 3,
                "start_period": 0,
            }
        binds = {request.volume: {"bind": request.volume_path, "mode": "rw"}} if request.volume else None
        try:
            host_config = api.create_host_config(
                port_bindings={port: ("127.0.0.1", None) for port in request.ports},
                binds=binds,
                init=True,
            )
            networking = api.create_networking_config(
                {request.network: api.create_endpoint_config(aliases=list(request.aliases) or None)}
            )
            created = api.create_container(
                request.image,
                command=list(request.command) or None,
                name=request.name,
                labels=dict(request.labels),
                environment=dict(request.env),
                ports=list(request.ports),
                healthcheck=healthcheck,
                host_config=host_config,
                networking_config=networking,
                detach=True,
            )
        except Exception as exc:
            raise _wrap(f"create container {request.name}", exc) from None
        info = self.find(created["Id"])
        if info is None:
            raise EngineError(f"container {request.name} vanished right after creation")
        return info

    def start(self, ident: str) -> ContainerInfo:
        try:
            self._client.api.start(ident)
        except Exception as exc:
            raise _wrap(f"start container {ident}", exc) from None
        info = self.find(ident)
        if info is None:
            raise EngineError(f"container {ident} vanished while starting")
        return info

    def remove(self, ident: str, stop_timeout: int = 5) -> None:
        import docker.errors as derr

        try:
            try:
                self._client.api.stop(ident, timeout=stop_timeout)
            except derr.NotFound:
                return
            # v=True: the image's anonymous volumes go with it; named (data) volumes stay.
            self._client.api.remove_container(ident, force=True, v=True)
        except derr.NotFound:
            return
        except Exception as exc:
            raise _wrap(f"remove container {ident}", exc) from None

    def kill(self, ident: str) -> None:
        try:
            self._client.api.kill(ident)
        except Exception as exc:
            raise _wrap(f"kill container {ident}", exc) from None

    # --- streams (blocking: run them on a thread) -------------------------------------

    def events(self, labels: Mapping[str, str]) -> EventStream:
        filters = {"type": "container", "label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            return EventStream(self._client.api.events(decode=True, filters=filters))
        except Exception as exc:
            raise _wrap("follow events", exc) from None

    def attach(self, ident: str, include_past: bool) -> Iterator[tuple[str, str]]:
        """(stream, line) pairs until the container stops; attaching happens now, before
        returning, so attaching to a created container and then starting it misses nothing."""
        try:
            frames = self._client.api.attach(ident, stream=True, logs=include_past, demux=True)
        except Exception as exc:
            raise _wrap(f"logs of {ident}", exc) from None
        return output_lines(ident, frames)


def _info(raw: Mapping[str, Any]) -> ContainerInfo:
    state = raw.get("State") or {}
    health = state.get("Health") or {}
    ports: dict[int, int] = {}
    for key, bindings in ((raw.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings:
            ports[int(key.split("/", 1)[0])] = int(bindings[0]["HostPort"])
    probes = health.get("Log") or []
    networks = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerInfo(
        id=raw["Id"],
        name=raw.get("Name", "").lstrip("/"),
        image=(raw.get("Config") or {}).get("Image", ""),
        status=state.get("Status", "unknown"),
        health=health.get("Status"),
        labels=(raw.get("Config") or {}).get("Labels") or {},
        ports=ports,
        started_at=state.get("StartedAt"),
        restart_count=int(raw.get("RestartCount") or 0),
        exit_code=state.get("ExitCode"),
        health_log=(probes[-1].get("Output") or "").strip() if probes else None,
        address=(networks.get(NETWORK) or {}).get("IPAddress") or None,
    )
