"""The stream reader given to byte-stream handlers (the AMQP engine): it can hand data over as it arrives.

A handler's task waiting in ``read()`` is woken by ``data_received`` through a future and runs
a turn of the event loop later. A handler that answers most of what it reads at once (an AMQP
connection settling a message) saves that turn by handling the bytes in ``data_received``
itself: it sets a :attr:`PushReader.consumer` while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class PushReader(asyncio.StreamReader):
    """A ``StreamReader`` that first offers what arrives to its ``consumer``, when one is set."""

    consumer: Callable[[bytes], bool] | None = None
    """Takes the bytes just received, or returns ``False`` to leave them to ``read()``."""

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]  # data_received's bytes
        consumer = self.consumer
        # Only with nothing buffered (StreamReader's own buffer): bytes read earlier must not be overtaken.
        if consumer is None or not data or self._buffer or not consumer(data):  # type: ignore[attr-defined]
            super().feed_data(data)
