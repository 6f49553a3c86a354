"""Routing: which operation a request names, its SAS needs, and when anonymous reads are allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.blob.api import BlobService, split_path
from adapters.blob.errors import InvalidUri, UnsupportedHttpVerb
from controlplane.adapter import RequestTarget, ServiceContext
from controlplane.state.memory import MemoryBackend


@pytest.fixture
def blob_service(tmp_path: Path) -> BlobService:
    context = ServiceContext(
        name="blob", port=0, data_dir=tmp_path, state=MemoryBackend(), accounts=lambda: {}, settings={}
    )
    service = BlobService(context)
    service.store.load()
    return service


def _target(path: str) -> RequestTarget:
    return RequestTarget(service="blob", account="acct", path=path, path_style=True)


def test_split_path() -> None:
    assert split_path("/") == ("service", "", "")
    assert split_path("/box") == ("container", "box", "")
    assert split_path("/box/a/b/c.txt") == ("blob", "box", "a/b/c.txt")


def test_operations_and_permissions(blob_service: BlobService) -> None:
    op = blob_service.resolve("PUT", _target("/box/a/b"), {})
    assert (op.name, op.sas_permission, op.resource_type, op.resource) == ("PutBlob", "cw", "o", "box/a/b")
    op = blob_service.resolve("GET", _target("/box"), {"restype": "container", "comp": "list"})
    assert (op.name, op.sas_permission, op.resource) == ("ListBlobs", "l", "box")
    op = blob_service.resolve("GET", _target("/"), {"comp": "list"})
    assert (op.name, op.resource_type, op.resource) == ("ListContainers", "s", "")
    assert blob_service.resolve("PUT", _target("/box/b"), {"comp": "block"}).name == "PutBlock"
    assert blob_service.resolve("OPTIONS", _target("/box/b"), {}).anonymous
    with pytest.raises(UnsupportedHttpVerb):
        blob_service.resolve("POST", _target("/box/b"), {})
    with pytest.raises(InvalidUri):
        blob_service.resolve("GET", _target("/box/b"), {"comp": "bogus"})


def test_anonymous_follows_the_public_level(blob_service: BlobService) -> None:
    store = blob_service.store
    store.create_container("acct", "private", {}, "")
    store.create_container("acct", "blobs", {}, "blob")
    store.create_container("acct", "everything", {}, "container")
    list_query = {"restype": "container", "comp": "list"}
    assert not blob_service.resolve("GET", _target("/private/x"), {}).anonymous
    assert blob_service.resolve("GET", _target("/blobs/x"), {}).anonymous
    assert blob_service.resolve("HEAD", _target("/blobs/x"), {}).anonymous
    assert not blob_service.resolve("GET", _target("/blobs"), list_query).anonymous
    assert not blob_service.resolve("PUT", _target("/blobs/x"), {}).anonymous
    assert not blob_service.resolve("DELETE", _target("/everything/x"), {}).anonymous
    assert blob_service.resolve("GET", _target("/everything"), list_query).anonymous
    assert blob_service.resolve("GET", _target("/everything/x"), {"comp": "metadata"}).anonymous
    assert not blob_service.resolve("GET", _target("/everything"), {"restype": "container", "comp": "acl"}).anonymous
