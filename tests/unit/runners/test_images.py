"""Which images are built here, and when one is stale."""

from __future__ import annotations

from pathlib import Path

from controlplane.adapter import CONTROLPLANE_IMAGE
from controlplane.runners.images import LOCAL_AZURITE_IMAGE, service_images, source_digest


def make_tree(root: Path) -> Path:
    images = root / "images"
    for name in ("base", "azurite", "localzure", "servicebus", "notes"):
        (images / name).mkdir(parents=True)
    for name in ("azurite", "localzure", "servicebus"):
        (images / name / "Dockerfile").write_text(f"FROM {name}\n")
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    for package in ("controlplane", "adapters"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    return images


def test_a_directory_with_a_dockerfile_is_a_service_image(tmp_path: Path) -> None:
    images = make_tree(tmp_path)
    assert service_images(images) == {"localzure/servicebus:latest": images / "servicebus"}
    assert service_images(tmp_path / "missing") == {}


def test_a_service_image_is_stale_when_the_project_or_its_dockerfile_changes(tmp_path: Path) -> None:
    images = make_tree(tmp_path)
    image = "localzure/servicebus:latest"
    before = {name: source_digest(images, name) for name in (image, CONTROLPLANE_IMAGE, LOCAL_AZURITE_IMAGE)}
    (tmp_path / "adapters" / "__init__.py").write_text("# changed\n")
    after_code = {name: source_digest(images, name) for name in before}
    assert after_code[image] != before[image] and after_code[CONTROLPLANE_IMAGE] != before[CONTROLPLANE_IMAGE]
    assert after_code[LOCAL_AZURITE_IMAGE] == before[LOCAL_AZURITE_IMAGE]
    (images / "servicebus" / "Dockerfile").write_text("FROM other\n")
    assert source_digest(images, image) != after_code[image]
    assert source_digest(images, CONTROLPLANE_IMAGE) == after_code[CONTROLPLANE_IMAGE]
