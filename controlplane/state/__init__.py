"""State backends: where services write their state through to."""

from pathlib import Path

from controlplane.state.backend import StateBackend


def open_backend(persistence: str, data_dir: Path, name: str, fsync: bool = False) -> StateBackend:
    """The backend a service writes through to: ``<data_dir>/<name>.sqlite`` or memory."""
    if persistence == "memory":
        from controlplane.state.memory import MemoryBackend

        return MemoryBackend()
    from controlplane.state.sqlite import SqliteBackend

    return SqliteBackend(data_dir / f"{name}.sqlite", fsync=fsync)


__all__ = ["StateBackend", "open_backend"]
