"""Logging: JSON lines (python-json-logger) or text, one redaction filter, a log ring.

Every handler that ``setup_logging`` installs carries the same two filters: the
context filter (correlation id and service from contextvars) and the redaction filter,
so no secret reaches a terminal, a file or the admin log endpoint by another path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import logging.handlers
import re
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from controlplane.ids import new_guid

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
service_name: ContextVar[str | None] = ContextVar("service_name", default=None)
trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MASK = "***"
CONTROL_PLANE = "controlplane"
"""The LogRing key for records that carry no service name."""

# Uvicorn logs one line per request at INFO: too chatty next to the gateway's own lines.
_QUIET_LOGGERS = {"uvicorn.access": "WARNING", "httpx": "WARNING"}
_STANDARD_ATTRS = frozenset(RESERVED_ATTRS) | {"taskName", "correlation_id", "service"}


def new_correlation_id() -> str:
    return new_guid()


# --- redaction -----------------------------------------------------------------------

_KEY_PARTS = re.compile(
    r"(?i)\b(AccountKey|SharedAccessKey|PrimaryKey|SecondaryKey|Password|Pwd|ClientSecret|client_secret)"
    r"=[^;&\s\"',]+"
)
# A SAS inside a connection string runs on to the next ';', '&' included.
_SAS_PART = re.compile(r"(?i)\b(SharedAccessSignature)=[^;\s\"']+")
_SAS_SIG = re.compile(r"(?i)(?<![A-Za-z0-9_])(sig)=[^&\s\"';,]+")
_AUTH_HEADER = re.compile(
    r"(?i)(?P<prefix>\bauthorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>SharedKey(?:Lite)?|Bearer|Basic|Digest|SharedAccessSignature)\s+)?"
    r"(?P<cred>[^\s\"',}]+)"
)
_SHARED_KEY = re.compile(r"\b(SharedKey(?:Lite)?\s+[\w-]+:)(?!\*\*\*)[A-Za-z0-9+/=]+")
_BEARER = re.compile(r"(?i)\b(Bearer\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]+=*")
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{64,}={0,2}(?![A-Za-z0-9+/=])")


def _mask_auth(match: re.Match[str]) -> str:
    scheme, cred = match["scheme"], match["cred"]
    if scheme and scheme.lower().startswith("sharedkey") and ":" in cred:
        account = cred.split(":", 1)[0]
        return f"{match['prefix']}{scheme} {account}:{MASK}"
    return f"{match['prefix']}{scheme + ' ' if scheme else ''}{MASK}"


def _looks_like_key(text: str) -> bool:
    # Mixed case plus digits tells a key from hex digests and lowercase paths.
    if text.startswith("/") or "//" in text:
        return False
    if not (re.search(r"[a-z]", text) and re.search(r"[A-Z]", text) and re.search(r"[0-9]", text)):
        return False
    body = text.rstrip("=")
    try:
        base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def redact(text: str) -> str:
    """Masks account keys, SAS signatures, Authorization values and key-like base64."""
    if not text:
        return text
    text = _AUTH_HEADER.sub(_mask_auth, text)
    text = _SHARED_KEY.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    text = _SAS_PART.sub(rf"\1={MASK}", text)
    text = _KEY_PARTS.sub(rf"\1={MASK}", text)
    text = _SAS_SIG.sub(rf"\1={MASK}", text)
    return _BASE64_RUN.sub(lambda m: MASK if _looks_like_key(m.group(0)) else m.group(0), text)


class RedactionFilter(logging.Filter):
    """Masks secrets in the message (after %-formatting), string extras and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_redacted", False):
            self._redact(record)
        return True

    @staticmethod
    def _redact(record: logging.LogRecord) -> None:
        if not isinstance(record.msg, dict):
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: logging reports it later, unformatted
                message = str(record.msg)
            else:
                record.args = None
            record.msg = redact(message)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True


class ContextFilter(logging.Filter):
    """Adds correlation_id and service from the contextvars; an explicit ``extra`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id.get()
        if getattr(record, "service", None) is None:
            record.service = service_name.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = trace_id.get()
        return True


# --- formatters ----------------------------------------------------------------------


class JsonLineFormatter(JsonFormatter):
    """timestamp, level, logger, message, correlation_id, service, then the extras."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", "correlation_id", "service"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "taskName", "_redacted"],
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["timestamp"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        formatted = super().formatException(ei)  # pjl types it str | list[str] (exc_info_as_array)
        return redact(formatted if isinstance(formatted, str) else "\n".join(formatted))

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.format(record))
        return result


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger [service] message (cid=...)`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        parts = [self.formatTime(record, self.datefmt), f"{record.levelname:<7}", record.name]
        service = getattr(record, "service", None)
        if service:
            parts.append(f"[{service}]")
        parts.append(record.message)
        cid = getattr(record, "correlation_id", None)
        if cid:
            parts.append(f"(cid={cid})")
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


# --- the log ring --------------------------------------------------------------------


class LogRing(logging.Handler):
    """The last ``capacity`` records per service, as dicts, with live subscribers."""

    def __init__(self, capacity: int = 1000) -> None:
        super().__init__()
        self.capacity = capacity
        self._dict_formatter = JsonLineFormatter()
        self._records: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self._seq = itertools.count()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]], str | None]] = []
        self._sub_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = self._dict_formatter.to_dict(record)
        except Exception:
            self.handleError(record)
            return
        service = entry.get("service") or CONTROL_PLANE
        ring = self._records.get(service)
        if ring is None:
            ring = self._records[service] = deque(maxlen=self.capacity)
        ring.append((next(self._seq), entry))
        with self._sub_lock:
            subscribers = list(self._subscribers)
        for loop, queue, wanted in subscribers:
            if wanted is not None and wanted != service:
                continue
            try:
                loop.call_soon_threadsafe(_offer, queue, entry)
            except RuntimeError:  # the subscriber's loop is closed
                self._drop(queue)

    def services(self) -> list[str]:
        return sorted(self._records)

    def tail(self, service: str | None = None, n: int = 100) -> list[dict[str, Any]]:
        """The last n entries of one service (``controlplane`` for the core), or of all when None."""
        if n <= 0:
            return []
        with self.lock:  # type: ignore[union-attr]
            if service is not None:
                return [entry for _, entry in list(self._records.get(service, ()))[-n:]]
            merged = sorted(item for ring in self._records.values() for item in ring)
        return [entry for _, entry in merged[-n:]]

    def subscribe(self, service: str | None = None, maxsize: int = 1000) -> asyncio.Queue[dict[str, Any]]:
        """A queue fed with each new entry of ``service`` (all when None); call from the loop."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        with self._sub_lock:
            self._subscribers.append((asyncio.get_running_loop(), queue, service))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._drop(queue)

    async def follow(self, service: str | None = None) -> AsyncIterator[dict[str, Any]]:
        queue = self.subscribe(service)
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(queue)

    def clear(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._records.clear()

    def _drop(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._sub_lock:
            self._subscribers = [sub for sub in self._subscribers if sub[1] is not queue]


def _offer(queue: asyncio.Queue[dict[str, Any]], entry: dict[str, Any]) -> None:
    # A slow reader loses lines rather than growing memory without bound.
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(entry)


_ring = LogRing()


def log_ring() -> LogRing:
    return _ring


# --- setup ---------------------------------------------------------------------------

_OURS = "_localzure_handler"
_levelled_loggers: set[str] = set()


def _install(handler: logging.Handler, formatter: logging.Formatter | None) -> logging.Handler:
    if formatter is not None:
        handler.setFormatter(formatter)
    for old in list(handler.filters):
        handler.removeFilter(old)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter())
    setattr(handler, _OURS, True)
    logging.getLogger().addHandler(handler)
    return handler


def setup_logging(
    level: str,
    fmt: str = "json",
    levels: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = 3,
    stream: TextIO | None = None,
) -> None:
    """Configures the root logger; a second call replaces the handlers the first installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            if handler is not _ring:
                handler.close()
    formatter: logging.Formatter = TextFormatter() if fmt == "text" else JsonLineFormatter()
    _install(logging.StreamHandler(stream if stream is not None else sys.stderr), formatter)
    if log_file is not None:
        log_file = Path(log_file).expanduser()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        _install(file_handler, JsonLineFormatter())
    _install(_ring, None)  # the ring formats to dicts itself
    set_levels(level, levels or {})


def set_levels(level: str, levels: Mapping[str, str] | None = None) -> None:
    """Sets the root and per-logger levels; loggers dropped from ``levels`` go back to inheriting."""
    wanted = {**_QUIET_LOGGERS, **{name: lvl.upper() for name, lvl in (levels or {}).items()}}
    logging.getLogger().setLevel(level.upper())
    for name in _levelled_loggers - wanted.keys():
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name, lvl in wanted.items():
        logging.getLogger(name).setLevel(lvl)
    _levelled_loggers.clear()
    _levelled_loggers.update(wanted)
