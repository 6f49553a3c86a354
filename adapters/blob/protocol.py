"""Request and response pieces every Blob handler shares: headers, metadata, conditional
headers, ranges, leases and the properties a blob answers with."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from adapters.blob import errors
from adapters.blob.models import APPEND, INFINITE, PAGE, Blob, Container, Lease
from adapters.blob.xml import http_date

_META_PREFIX = "x-ms-meta-"
_METADATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
METADATA_LIMIT = 8 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

Headers = list[tuple[bytes, bytes]]


class NotModified(Exception):
    """A read whose If-None-Match / If-Modified-Since failed: 304 with no body."""

    def __init__(self, etag: str, modified: float) -> None:
        self.etag = etag
        self.modified = modified


def headers_of(scope: dict) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        found[key.decode("latin-1")] = value.decode("latin-1")
    return found


def metadata_from(headers: Mapping[str, str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    size = 0
    for key, value in headers.items():
        if key.startswith(_META_PREFIX):
            name = key[len(_META_PREFIX) :]
            if not _METADATA_NAME.fullmatch(name):
                raise errors.InvalidMetadata(details={"MetadataName": name})
            text = value.strip()
            size += len(name) + len(text)
            metadata[name] = text
    if size > METADATA_LIMIT:
        raise errors.MetadataTooLarge()
    return metadata


def metadata_headers(metadata: Mapping[str, str]) -> Headers:
    return [(f"x-ms-meta-{k}".encode("latin-1"), v.encode("latin-1", "replace")) for k, v in metadata.items()]


async def reply(send: Callable, status: int, headers: Headers, body: bytes = b"", content_type: bytes = b"") -> None:
    if content_type:
        headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def etag_headers(etag: str, modified: float) -> Headers:
    return [(b"etag", etag.encode()), (b"last-modified", http_date(modified).encode())]


def int_header(headers: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid_header(name, raw) from None


def bool_header(headers: Mapping[str, str], name: str) -> bool:
    return headers.get(name, "").strip().lower() == "true"


def decode_md5(headers: Mapping[str, str], name: str) -> bytes | None:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        value = base64.b64decode(raw, validate=True)
    except ValueError:
        raise errors.invalid_header(name, raw) from None
    if len(value) != 16:
        raise errors.invalid_header(name, raw)
    return value


def decode_crc64(headers: Mapping[str, str], name: str = "x-ms-content-crc64") -> int | None:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        value = base64.b64decode(raw, validate=True)
    except ValueError:
        raise errors.invalid_header(name, raw) from None
    if len(value) != 8:
        raise errors.invalid_header(name, raw)
    return int.from_bytes(value, "little")


# -- conditional headers ---------------------------------------------------------------------


def _http_time(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None  # Azure ignores an unparsable date condition


def _etag_matches(candidates: str, etag: str) -> bool:
    for candidate in candidates.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate == etag or candidate.strip('"') == etag.strip('"'):
            return True
    return False


def check_conditions(
    headers: Mapping[str, str],
    etag: str | None,
    modified: float,
    read: bool = False,
    prefix: str = "",
    failure: type[errors.AzureError] = errors.ConditionNotMet,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Raise what Azure answers when If-Match / If-None-Match / If-(Un)Modified-Since fail.

    ``etag`` None means the resource does not exist. Reads that fail If-None-Match or
    If-Modified-Since get 304 (NotModified); everything else gets 412.
    """
    if tags is not None and "x-ms-if-tags" in headers:
        from adapters.blob.tags import matches, parse_filter

        if not matches(parse_filter(headers["x-ms-if-tags"]), "", tags):
            raise errors.ConditionNotMet()
    if_match = headers.get(prefix + "if-match")
    if_none = headers.get(prefix + "if-none-match")
    since = _http_time(headers, prefix + "if-modified-since")
    unmodified = _http_time(headers, prefix + "if-unmodified-since")
    if if_match is None and if_none is None and since is None and unmodified is None:
        return
    if etag is None:
        if if_match is not None:
            raise failure()
        return
    if if_match is not None and not _etag_matches(if_match, etag):
        raise failure()
    if unmodified is not None and int(modified) > unmodified:
        raise failure()
    if if_none is not None and _etag_matches(if_none, etag):
        if read:
            raise NotModified(etag, modified)
        raise failure()
    if since is not None and int(modified) <= since:
        if read:
            raise NotModified(etag, modified)
        raise failure()


# -- ranges ----------------------------------------------------------------------------------


def requested_range(headers: Mapping[str, str]) -> tuple[int, int | None] | None:
    """(start, inclusive end or None) of x-ms-range / Range, or None for the whole blob."""
    raw = headers.get("x-ms-range") or headers.get("range")
    if not raw:
        return None
    match = _RANGE.fullmatch(raw.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # Azure serves the whole blob for a range it cannot parse
    if not match.group(1):
        return -int(match.group(2)), None  # suffix range: the last N bytes
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else None
    if end is not None and end < start:
        raise errors.invalid_header("Range", raw)
    return start, end


def resolve_range(wanted: tuple[int, int | None], size: int) -> tuple[int, int]:
    """[start, end) within a blob of ``size`` bytes; InvalidRange when it starts past the end."""
    start, end = wanted
    if start < 0:
        return max(size + start, 0), size
    if start >= size:
        raise errors.InvalidRange(headers={"Content-Range": f"bytes */{size}"})
    return start, size if end is None else min(end + 1, size)


# -- leases ----------------------------------------------------------------------------------


def lease_view(lease: Lease | None, now: float) -> tuple[str, str, str]:
    """(LeaseStatus, LeaseState, LeaseDuration) as Azure reports them."""
    if lease is None:
        return "unlocked", "available", ""
    state = lease.state(now)
    if state == "leased":
        return "locked", "leased", "infinite" if lease.duration == INFINITE else "fixed"
    if state == "breaking":
        return "locked", "breaking", ""
    return "unlocked", state, ""


def lease_headers(lease: Lease | None, now: float) -> Headers:
    status, state, duration = lease_view(lease, now)
    headers = [(b"x-ms-lease-status", status.encode()), (b"x-ms-lease-state", state.encode())]
    if duration:
        headers.append((b"x-ms-lease-duration", duration.encode()))
    return headers


def check_blob_lease(lease: Lease | None, headers: Mapping[str, str], now: float, write: bool) -> None:
    given = headers.get("x-ms-lease-id")
    active = lease is not None and lease.active(now)
    if active:
        assert lease is not None
        if given is None:
            if write:
                raise errors.LeaseIdMissing()
            return
        if given != lease.id:
            raise errors.LeaseIdMismatchWithBlobOperation()
    elif given is not None:
        if lease is not None and lease.id == given and lease.state(now) == "expired":
            raise errors.LeaseLost()
        raise errors.LeaseNotPresentWithBlobOperation()


def check_container_lease(container: Container, headers: Mapping[str, str], now: float, required: bool) -> None:
    lease = container.lease
    given = headers.get("x-ms-lease-id")
    if lease is not None and lease.active(now):
        if given is None:
            if required:
                raise errors.LeaseIdMissing(
                    "There is currently a lease on the container and no lease ID was specified in the request."
                )
            return
        if given != lease.id:
            raise errors.LeaseIdMismatchWithContainerOperation()
    elif given is not None:
        raise errors.LeaseNotPresentWithContainerOperation()


def lease_action(lease: Lease | None, headers: Mapping[str, str], now: float) -> tuple[Lease | None, int, Headers]:
    """Apply x-ms-lease-action to a lease: (the new lease, status, response headers)."""
    action = headers.get("x-ms-lease-action", "").lower()
    given = headers.get("x-ms-lease-id")
    proposed = headers.get("x-ms-proposed-lease-id")
    state = lease.state(now) if lease is not None else "available"
    if action == "acquire":
        duration = int_header(headers, "x-ms-lease-duration", None)
        if duration is None:
            raise errors.missing_header("x-ms-lease-duration")
        if duration != INFINITE and not 15 <= duration <= 60:
            raise errors.invalid_header("x-ms-lease-duration", str(duration))
        new_id = proposed or str(uuid.uuid4())
        _check_guid("x-ms-proposed-lease-id", new_id)
        if lease is not None and state == "leased" and lease.id != new_id:
            raise errors.LeaseAlreadyPresent()
        if lease is not None and state == "breaking":
            if lease.id == new_id:
                raise errors.LeaseIsBreakingAndCannotBeAcquired()
            raise errors.LeaseAlreadyPresent()
        new = Lease(new_id, duration, now + duration if duration != INFINITE else 0.0)
        return new, 201, [(b"x-ms-lease-id", new_id.encode())]
    if action == "break":
        period = int_header(headers, "x-ms-lease-break-period", None)
        if period is not None and not 0 <= period <= 60:
            raise errors.invalid_header("x-ms-lease-break-period", str(period))
        if lease is None or state == "available":
            raise errors.LeaseNotPresentWithLeaseOperation()
        if state in ("expired", "broken"):
            broken = Lease(lease.id, lease.duration, lease.expires, 0.0, True)
            return broken, 202, [(b"x-ms-lease-time", b"0")]
        if state == "breaking":
            remaining = max(lease.break_at - now, 0.0)
            if period is not None and period < remaining:
                remaining = float(period)
        else:
            if lease.duration == INFINITE:
                remaining = float(period or 0)
            else:
                left = max(lease.expires - now, 0.0)
                remaining = left if period is None else min(float(period), left)
        if remaining <= 0:
            broken = Lease(lease.id, lease.duration, lease.expires, 0.0, True)
            return broken, 202, [(b"x-ms-lease-time", b"0")]
        breaking = Lease(lease.id, lease.duration, lease.expires, now + remaining)
        return breaking, 202, [(b"x-ms-lease-time", str(int(remaining + 0.999)).encode())]
    if action not in ("renew", "change", "release"):
        raise errors.invalid_header("x-ms-lease-action", action)
    if given is None:
        raise errors.missing_header("x-ms-lease-id")
    if lease is None or state == "available":
        raise errors.LeaseNotPresentWithLeaseOperation()
    if action == "renew":
        if lease.id != given:
            raise errors.LeaseIdMismatchWithLeaseOperation()
        if state in ("breaking", "broken"):
            raise errors.LeaseIsBrokenAndCannotBeRenewed()
        duration = lease.duration
        renewed = Lease(lease.id, duration, now + duration if duration != INFINITE else 0.0)
        return renewed, 200, [(b"x-ms-lease-id", lease.id.encode())]
    if action == "change":
        if proposed is None:
            raise errors.missing_header("x-ms-proposed-lease-id")
        _check_guid("x-ms-proposed-lease-id", proposed)
        if lease.id not in (given, proposed):
            raise errors.LeaseIdMismatchWithLeaseOperation()
        if state == "breaking":
            raise errors.LeaseIsBreakingAndCannotBeChanged()
        if state in ("broken", "expired"):
            raise errors.LeaseNotPresentWithLeaseOperation()
        changed = Lease(proposed, lease.duration, lease.expires)
        return changed, 200, [(b"x-ms-lease-id", proposed.encode())]
    if lease.id != given:
        raise errors.LeaseIdMismatchWithLeaseOperation()
    return None, 200, []


def _check_guid(name: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise errors.invalid_header(name, value) from None


# -- blob properties -------------------------------------------------------------------------

_CONTENT_HEADERS = (
    ("x-ms-blob-content-type", "content_type"),
    ("x-ms-blob-content-encoding", "content_encoding"),
    ("x-ms-blob-content-language", "content_language"),
    ("x-ms-blob-content-disposition", "content_disposition"),
    ("x-ms-blob-cache-control", "cache_control"),
)


def apply_content_headers(blob: Blob, headers: Mapping[str, str], from_body: bool) -> None:
    """Content-* properties from x-ms-blob-* headers (and, for Put Blob, the plain Content-* ones)."""
    if from_body:
        blob.content_type = headers.get("x-ms-blob-content-type") or headers.get(
            "content-type", "application/octet-stream"
        )
        blob.content_encoding = headers.get("x-ms-blob-content-encoding") or headers.get("content-encoding", "")
        blob.content_language = headers.get("x-ms-blob-content-language") or headers.get("content-language", "")
        blob.content_disposition = headers.get("x-ms-blob-content-disposition", "")
        blob.cache_control = headers.get("x-ms-blob-cache-control") or headers.get("cache-control", "")
        return
    for header, attribute in _CONTENT_HEADERS:
        setattr(blob, attribute, headers.get(header, ""))
    blob.content_md5 = headers.get("x-ms-blob-content-md5", "")


def blob_headers(blob: Blob, now: float, include_lease: bool = True) -> Headers:
    headers: Headers = [
        (b"last-modified", http_date(blob.modified).encode()),
        (b"etag", blob.etag.encode()),
        (b"x-ms-creation-time", http_date(blob.created).encode()),
        (b"x-ms-blob-type", blob.kind.encode()),
        (b"content-type", blob.content_type.encode("latin-1", "replace")),
        (b"accept-ranges", b"bytes"),
        (b"x-ms-server-encrypted", b"true"),
    ]
    for value, name in (
        (blob.content_encoding, b"content-encoding"),
        (blob.content_language, b"content-language"),
        (blob.content_disposition, b"content-disposition"),
        (blob.cache_control, b"cache-control"),
    ):
        if value:
            headers.append((name, value.encode("latin-1", "replace")))
    if blob.metadata:
        headers.extend(metadata_headers(blob.metadata))
    if include_lease and not blob.snapshot:
        headers.extend(lease_headers(blob.lease, now))
    if blob.kind == PAGE:
        headers.append((b"x-ms-blob-sequence-number", str(blob.sequence).encode()))
    elif blob.kind == APPEND:
        headers.append((b"x-ms-blob-committed-block-count", str(len(blob.extents)).encode()))
        if blob.sealed:
            headers.append((b"x-ms-blob-sealed", b"true"))
    if blob.version:
        headers.append((b"x-ms-version-id", blob.version.encode()))
    if blob.tags:
        headers.append((b"x-ms-tag-count", str(len(blob.tags)).encode()))
    if blob.copy:
        copy = blob.copy
        headers.extend(
            [
                (b"x-ms-copy-id", copy["id"].encode()),
                (b"x-ms-copy-source", copy["source"].encode("latin-1", "replace")),
                (b"x-ms-copy-status", copy["status"].encode()),
                (b"x-ms-copy-progress", copy["progress"].encode()),
                (b"x-ms-copy-completion-time", http_date(copy["completed"]).encode()),
            ]
        )
        if copy.get("description"):
            headers.append((b"x-ms-copy-status-description", copy["description"].encode()))
    return headers
