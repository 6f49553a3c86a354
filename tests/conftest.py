"""Shared fixtures: an in-process LocalZure with real listening sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.testing.server import LocalZureThread


@pytest.fixture(scope="session")
def localzure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    """One LocalZure for the session, every service in host mode on free ports, SQLite state."""
    data_dir: Path = tmp_path_factory.mktemp("localzure")
    server = LocalZureThread(data_dir=data_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def resolve_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every ``*.localhost`` name at 127.0.0.1 inside this process (glibc here does not)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
