"""The blob store rebuilds exactly what was written through, and content files are reference counted."""

from __future__ import annotations

from pathlib import Path

from adapters.blob.content import ContentStore
from adapters.blob.models import BLOCK, Blob
from adapters.blob.store import BlobStore
from controlplane.state.sqlite import SqliteBackend


def _blob(name: str, content: ContentStore, data: bytes) -> Blob:
    blob = Blob(name, BLOCK)
    file_id = content.create_sparse(0)
    with open(content.path(file_id), "wb") as handle:
        handle.write(data)
    blob.extents = [[file_id, len(data)]]
    blob.size = len(data)
    content.retain([file_id])
    return blob


async def test_reload_and_sweep(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "state.sqlite")
    content = ContentStore(tmp_path)
    store = BlobStore(backend, content)
    container = store.create_container("acct", "box", {"m": "1"}, "blob")
    blob = _blob("a/b", content, b"payload")
    blob.metadata = {"k": "v"}
    store.commit(container, blob, versioning=False)
    snapshot = store.add_snapshot(container, blob)
    small = Blob("inline", BLOCK)
    small.inline = b"tiny"
    small.size = 4
    store.commit(container, small, versioning=False)
    orphan = content.create_sparse(10)  # written but never committed, as after a crash
    await backend.flush()
    backend.close()

    backend = SqliteBackend(tmp_path / "state.sqlite")
    content = ContentStore(tmp_path)
    store = BlobStore(backend, content)
    store.load()
    container = store.containers[("acct", "box")]
    assert container.metadata == {"m": "1"} and container.public_access == "blob"
    assert container.names == ["a/b", "inline"]
    loaded = container.blobs["a/b"]
    assert loaded.metadata == {"k": "v"} and loaded.size == 7
    assert container.blobs["inline"].inline == b"tiny"
    assert [b.snapshot for b in container.history["a/b"]] == [snapshot.snapshot]
    file_id = loaded.extents[0][0]
    assert content.refs[file_id] == 2
    assert not Path(content.path(orphan)).exists()
    # Dropping the live blob keeps the file for the snapshot; dropping both removes it.
    store.drop(container, loaded)
    assert Path(content.path(file_id)).exists()
    store.drop(container, container.history["a/b"][0])
    assert not Path(content.path(file_id)).exists()
    assert container.names == ["inline"]
    backend.close()
