"""The engine's streams (events, container output) as plain iterators, docker-py kept inside."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("controlplane.runners.engine")


def output_lines(ident: str, frames: Iterator[tuple[bytes | None, bytes | None]]) -> Iterator[tuple[str, str]]:
    pending = {"stdout": b"", "stderr": b""}
    try:
        for out, err in frames:
            for stream, data in (("stdout", out), ("stderr", err)):
                if not data:
                    continue
                *lines, pending[stream] = (pending[stream] + data).split(b"\n")
                for line in lines:
                    yield stream, line.decode("utf-8", "replace").rstrip("\r")
    except Exception as exc:
        log.debug("log stream of %s ended: %s", ident, exc)
    for stream, rest in pending.items():
        if rest:
            yield stream, rest.decode("utf-8", "replace")


class EventStream:
    """Engine events as dicts; ``close`` (from any thread) ends the iteration."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for event in self._stream:
                if self._closed.is_set():
                    return
                yield event
        except Exception as exc:
            if not self._closed.is_set():
                from controlplane.runners.engine import _wrap

                raise _wrap("events stream", exc) from None

    def close(self) -> None:
        self._closed.set()
        try:
            self._stream.close()
        except Exception as exc:  # closing a dead stream: nothing left to release
            log.debug("closing the events stream: %s", exc)
