"""The images Docker mode runs, and how to build them on a machine without a registry.

``localzure/base`` comes from debootstrap + ``docker import`` (images/base/build.sh);
``localzure/azurite`` and ``localzure/controlplane`` are built on it from ``images/``.
The control-plane image installs the project from wheels made here on the host, so the
build itself needs no package index.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from controlplane.adapter import CONTROLPLANE_IMAGE
from controlplane.runners.engine import DockerEngine, EngineError, ImageUnavailable

log = logging.getLogger(__name__)

BASE_IMAGE = "localzure/base:bookworm"
AZURITE_IMAGE = "mcr.microsoft.com/azure-storage/azurite"
"""Microsoft's official image: the default for blob, queue and table in Docker mode."""
LOCAL_AZURITE_IMAGE = "localzure/azurite:latest"
"""The equivalent built here when the official one cannot be pulled."""

AZURITE_VERSION = "3.35.0"
"""The last azurite release that runs on Debian bookworm's node 18."""
IMAGES_DIR = Path(__file__).resolve().parents[2] / "images"
PYTHON_VERSION = "3.11"
"""Debian bookworm's python3: the wheels staged for the image must match it."""

LABEL_SOURCE = "io.localzure.source"
"""A digest of what an image was built from: a stale image is rebuilt."""

Progress = Callable[[str], None]


def service_images(images_dir: Path) -> dict[str, Path]:
    """A custom service's own image (``images/<service>/``, built on the control-plane image):
    ``localzure/<service>:latest`` -> its directory."""
    if not images_dir.is_dir():
        return {}
    return {
        f"localzure/{path.name}:latest": path
        for path in sorted(images_dir.iterdir())
        if path.name not in ("base", "azurite", "localzure") and (path / "Dockerfile").is_file()
    }


def source_digest(images_dir: Path, image: str) -> str:
    """What the image is built from: its Dockerfile directory, and for the control-plane
    image (and the service images built on it) the project's code and dependencies too."""
    root = images_dir.parent
    directory = service_images(images_dir).get(image)
    if directory is not None:
        files = sorted(directory.glob("*"))
        image = CONTROLPLANE_IMAGE
    else:
        files = []
    files += sorted((images_dir / ("azurite" if image == LOCAL_AZURITE_IMAGE else "localzure")).glob("*"))
    if image == CONTROLPLANE_IMAGE:
        files.append(root / "pyproject.toml")
        for package in ("controlplane", "adapters"):
            files += sorted(p for p in (root / package).rglob("*") if "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        if path.is_file() and path.suffix not in (".pyc",):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One build at a time on this machine: two control planes (or test runs) starting
    together would otherwise build the same image twice."""
    with open(Path(tempfile.gettempdir()) / "localzure-image-build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def default_ca_bundle() -> Path | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi

        return Path(certifi.where())
    except ImportError:
        return None


class ImageBuilder:
    """Builds LocalZure's images, each at most once per builder, with visible progress."""

    def __init__(
        self,
        engine: DockerEngine,
        base_image: str = BASE_IMAGE,
        ca_bundle: Path | None = None,
        progress: Progress | None = None,
        images_dir: Path = IMAGES_DIR,
    ) -> None:
        self.engine = engine
        self.base_image = base_image
        self.ca_bundle = ca_bundle or default_ca_bundle()
        self.progress = progress or (lambda line: log.info("%s", line))
        self.images_dir = images_dir
        self._lock = threading.Lock()
        self._unpullable: dict[str, ImageUnavailable] = {}

    @property
    def can_build(self) -> bool:
        return (self.images_dir / "localzure" / "Dockerfile").is_file()

    def build_all(self, force: bool = False) -> list[str]:
        built = []
        with self._lock, build_lock():
            for image, build in self._buildable().items():
                if force or not self.current(image):
                    build()
                    built.append(image)
                else:
                    self.progress(f"{image} is up to date; skipping (images build --force rebuilds)")
        return built

    def current(self, image: str) -> bool:
        """Is the image here, built from the sources as they are now?"""
        labels = self.engine.image_labels(image)
        if labels is None:
            return False
        if not self.can_build:
            return True
        return labels.get(LABEL_SOURCE) == source_digest(self.images_dir, image)

    def obtain(self, image: str, build: bool) -> str:
        """A usable local image for ``image``: present, pulled, or built (when ``build``).

        The official Azurite image that cannot be pulled is replaced by the local build.
        Raises ImageUnavailable naming what was tried.
        """
        with self._lock:
            buildable = self._buildable()
            if image in buildable:
                if self.current(image):
                    return image
                present = self.engine.has_image(image)
                if not build:
                    if present:
                        log.warning("image %s is older than the sources (localzure-cp images build)", image)
                        return image
                    raise ImageUnavailable(f"image {image} is missing (build it: localzure-cp images build)")
                with build_lock():
                    if not self.current(image):  # another process may have built it meanwhile
                        self.progress(f"image {image} is {'stale' if present else 'missing'}: building it")
                        buildable[image]()
                return image
            if self.engine.has_image(image):
                return image
            try:
                if image in self._unpullable:
                    raise self._unpullable[image]
                self.progress(f"pulling {image}")
                self.engine.pull(image)
                return image
            except ImageUnavailable as exc:
                self._unpullable[image] = exc
                if not image.startswith(AZURITE_IMAGE):
                    raise
                pull_error = exc
            if self.engine.has_image(LOCAL_AZURITE_IMAGE) and (not build or self.current(LOCAL_AZURITE_IMAGE)):
                log.warning("%s; using the locally built %s", pull_error, LOCAL_AZURITE_IMAGE)
                return LOCAL_AZURITE_IMAGE
            if not build:
                raise ImageUnavailable(
                    f"{pull_error}, and {LOCAL_AZURITE_IMAGE} is missing (localzure-cp images build)"
                )
            with build_lock():
                if not self.current(LOCAL_AZURITE_IMAGE):
                    log.warning("%s; building %s instead", pull_error, LOCAL_AZURITE_IMAGE)
                    self.build_azurite()
            return LOCAL_AZURITE_IMAGE

    # --- the builds --------------------------------------------------------------------

    def _buildable(self) -> dict[str, Callable[[], None]]:
        """Every image built here, in build order (service images need the control plane's)."""
        builds: dict[str, Callable[[], None]] = {
            LOCAL_AZURITE_IMAGE: self.build_azurite,
            CONTROLPLANE_IMAGE: self.build_controlplane,
        }
        for image, directory in service_images(self.images_dir).items():
            builds[image] = lambda image=image, directory=directory: self.build_service(image, directory)
        return builds

    def build_service(self, image: str, directory: Path) -> None:
        """A service's own image, FROM the control-plane image (built first if stale)."""
        if not self.current(CONTROLPLANE_IMAGE):
            self.build_controlplane()
        with tempfile.TemporaryDirectory(prefix="localzure-service.") as tmp:
            context = Path(tmp)
            for path in directory.iterdir():
                if path.is_file():
                    shutil.copy(path, context / path.name)
            self.progress(f"building {image} on {CONTROLPLANE_IMAGE}")
            labels = {LABEL_SOURCE: source_digest(self.images_dir, image)}
            self.engine.build(context, image, {"BASE_IMAGE": CONTROLPLANE_IMAGE}, self.progress, labels)
            self.progress(f"built {image}")

    def ensure_base(self) -> None:
        if self.engine.has_image(self.base_image):
            return
        if self.base_image != BASE_IMAGE:
            self.progress(f"pulling base image {self.base_image}")
            self.engine.pull(self.base_image)
            return
        script = self.images_dir / "base" / "build.sh"
        self.progress(f"building base image {self.base_image} ({script})")
        self._run([str(script), self.base_image], f"base image {self.base_image}")

    def build_azurite(self) -> None:
        self.ensure_base()
        with tempfile.TemporaryDirectory(prefix="localzure-azurite.") as tmp:
            context = Path(tmp)
            shutil.copy(self.images_dir / "azurite" / "Dockerfile", context / "Dockerfile")
            bundle = context / "ca-bundle.crt"
            if self.ca_bundle is not None:
                shutil.copy(self.ca_bundle, bundle)
            else:
                bundle.write_text("")
            script = self.images_dir / "azurite" / "bundle.sh"
            for name in ("bundle.sh", "codecache.js"):
                shutil.copy(self.images_dir / "azurite" / name, context / name)
            staged = context / "staged"
            staged.mkdir()
            if shutil.which("npm") is not None:
                self.progress(f"bundling azurite@{AZURITE_VERSION} with the host's npm")
                command = ["sh", str(script), str(staged), AZURITE_VERSION]
                if self.ca_bundle is not None:
                    command += ["--cafile", str(self.ca_bundle)]
                try:
                    self._run(command, "azurite (npm)")
                except EngineError as exc:
                    self.progress(f"{exc}; bundling it inside the image instead")
                    shutil.rmtree(staged)
                    staged.mkdir()
            self._build(context, LOCAL_AZURITE_IMAGE, {"AZURITE_VERSION": AZURITE_VERSION})

    def build_controlplane(self) -> None:
        self.ensure_base()
        with tempfile.TemporaryDirectory(prefix="localzure-controlplane.") as tmp:
            context = Path(tmp)
            source = self.images_dir / "localzure"
            for name in ("Dockerfile", "healthcheck.py"):
                shutil.copy(source / name, context / name)
            self.stage_wheels(context / "wheels")
            self._build(context, CONTROLPLANE_IMAGE)

    def stage_wheels(self, target: Path) -> None:
        """The project's wheel and its dependencies' wheels for the image's Python and machine."""
        target.mkdir(parents=True, exist_ok=True)
        project = self.images_dir.parent
        self.progress(f"building the localzure wheel from {project}")
        pip = [sys.executable, "-m", "pip"]
        self._run([*pip, "wheel", "--no-deps", "--quiet", "-w", str(target), str(project)], "the localzure wheel")
        wheel = next(target.glob("localzure-*.whl"))
        machine = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine().lower())
        platforms = [f"manylinux_2_{minor}_{machine}" for minor in (36, 34, 31, 28, 27, 24, 17)]
        platforms += [f"manylinux2014_{machine}", "linux_" + machine]
        self.progress(f"downloading dependency wheels for python {PYTHON_VERSION} ({machine})")
        command = [*pip, "download", "--quiet", "-d", str(target), "--only-binary=:all:"]
        command += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
        for name in platforms:
            command += ["--platform", name]
        self._run([*command, str(wheel)], "dependency wheels")

    def _build(self, context: Path, tag: str, args: dict[str, str] | None = None) -> None:
        self.progress(f"building {tag} on {self.base_image}")
        labels = {LABEL_SOURCE: source_digest(self.images_dir, tag)}
        self.engine.build(context, tag, {"BASE_IMAGE": self.base_image, **(args or {})}, self.progress, labels)
        self.progress(f"built {tag}")

    def _run(self, command: list[str], what: str) -> None:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                self.progress(line.rstrip())
        if process.wait() != 0:
            raise EngineError(f"building {what} failed (exit {process.returncode}): {' '.join(command)}")
