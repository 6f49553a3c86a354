"""Shared Key and Shared Key Lite, as in Microsoft's "Authorize with Shared Key".

Clients disagree on details the specification leaves open (how the path is encoded, how
``x-ms-*`` headers are sorted, whether a path-style URL repeats the account), so a request is
accepted when its signature matches any of the few strings to sign those choices produce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, unquote

from controlplane.gateway.auth.collation import collated
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.errors import AuthenticationFailed

_T = TypeVar("_T")

SHARED_KEY = "SharedKey"
SHARED_KEY_LITE = "SharedKeyLite"

# From this version on, a Content-Length of 0 is signed as an empty string.
EMPTY_ZERO_LENGTH_VERSION = "2015-02-21"
# Before this version Shared Key used the short ("lite") canonicalized resource.
QUERY_IN_RESOURCE_VERSION = "2009-09-19"

_BLOB_QUEUE_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
# RFC 3986 pchar: what a client that re-quotes a path (yarl, as used by aiohttp) leaves bare.
_PCHAR_SAFE = "/!$&'()*+,;=:@~"


@dataclass(frozen=True)
class SharedKeyCredential:
    """The parsed ``Authorization: SharedKey[Lite] account:signature`` header."""

    scheme: str
    account: str
    signature: str


def auth_failed(detail: str) -> AuthenticationFailed:
    """403 AuthenticationFailed with Azure's ``AuthenticationErrorDetail`` element."""
    return AuthenticationFailed(details={"AuthenticationErrorDetail": detail})


def sign(key: bytes, string_to_sign: str) -> str:
    """Base64 HMAC-SHA256 of the string to sign, as every storage signature is computed."""
    return base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode()


def signature_matches(key: bytes, candidates: Iterable[str], signature: str) -> bool:
    """True when ``signature`` signs one of ``candidates`` (constant-time per comparison)."""
    given = signature.encode("utf-8")
    return any(hmac.compare_digest(sign(key, c).encode(), given) for c in candidates)


def parse_authorization(value: str) -> SharedKeyCredential:
    """Split the Authorization header; raise AuthenticationFailed when it is not Shared Key."""
    scheme, _, credentials = value.strip().partition(" ")
    if scheme not in (SHARED_KEY, SHARED_KEY_LITE):
        raise auth_failed(f"Authentication scheme {scheme or value!r} is not supported.")
    account, sep, signature = credentials.strip().rpartition(":")
    if not sep or not account or not signature:
        raise auth_failed("The Authorization header is not in the correct format.")
    return SharedKeyCredential(scheme=scheme, account=account, signature=signature)


def verify_shared_key(request: StorageRequest, service: str, credential: SharedKeyCredential, key: bytes) -> None:
    """Raise AuthenticationFailed unless the credential signs this request with ``key``."""
    if credential.account != request.account:
        raise auth_failed(
            f"The account '{credential.account}' in the Authorization header does not match "
            f"the account '{request.account}' being accessed."
        )
    candidates = strings_to_sign(request, service, credential.scheme)
    if not signature_matches(key, candidates, credential.signature):
        raise auth_failed(
            f"The MAC signature found in the HTTP request '{credential.signature}' is not the same as "
            f"any computed signature. Server used following string to sign: '{candidates[0]}'."
        )


def strings_to_sign(request: StorageRequest, service: str, scheme: str) -> list[str]:
    """Every string to sign the request may have been signed over, the canonical one first."""
    if service == "table":
        return _table_strings(request, scheme)
    return _blob_queue_strings(request, scheme)


def _blob_queue_strings(request: StorageRequest, scheme: str) -> list[str]:
    version = request.header("x-ms-version")
    if scheme == SHARED_KEY_LITE:
        head = "\n".join(
            [
                request.method,
                request.header("content-md5"),
                request.header("content-type"),
                request.header("date"),
            ]
        )
        return _unique(
            f"{head}\n{headers}{resource}"
            for headers, resource in itertools.product(
                canonicalized_header_variants(request), _short_resources(request)
            )
        )
    long_resource = not version or version >= QUERY_IN_RESOURCE_VERSION
    resources = _long_resources(request) if long_resource else _short_resources(request)
    return _unique(
        f"{request.method}\n{standard}{headers}{resource}"
        for standard, headers, resource in itertools.product(
            _standard_header_variants(request, version),
            canonicalized_header_variants(request),
            resources,
        )
    )


def _table_strings(request: StorageRequest, scheme: str) -> list[str]:
    # The date signed is x-ms-date when sent, else Date; clients that send both may sign either.
    dates = _unique(d for d in (request.header("x-ms-date"), request.header("date")) if d) or [""]
    resources = _short_resources(request)
    if scheme == SHARED_KEY_LITE:
        return _unique(f"{date}\n{resource}" for date, resource in itertools.product(dates, resources))
    head = f"{request.method}\n{request.header('content-md5')}\n{request.header('content-type')}\n"
    return _unique(f"{head}{date}\n{resource}" for date, resource in itertools.product(dates, resources))


def _standard_header_variants(request: StorageRequest, version: str) -> list[str]:
    lengths = [request.header("content-length")]
    if lengths[0] == "0":
        if not version:
            lengths.append("")  # unknown version: both rules have been in use
        elif version >= EMPTY_ZERO_LENGTH_VERSION:
            lengths = [""]
    # The Python SDKs never sign Range (they send x-ms-range); the specification signs it.
    ranges = _unique([request.header("range"), ""])
    variants = []
    for length, byte_range in itertools.product(lengths, ranges):
        values = {**{h: request.header(h) for h in _BLOB_QUEUE_HEADERS}, "content-length": length}
        values["range"] = byte_range
        variants.append("".join(values[h] + "\n" for h in _BLOB_QUEUE_HEADERS))
    return _unique(variants)


def canonicalized_header_variants(request: StorageRequest) -> list[str]:
    """The ``x-ms-*`` headers as ``name:value\\n`` lines, in the service's and in ordinal order."""
    names = [n for n in request.headers if n.startswith("x-ms-")]
    orders = _unique(tuple(o) for o in (collated(names), sorted(names)))
    return ["".join(f"{name}:{request.headers[name].strip()}\n" for name in order) for order in orders]


def path_variants(request: StorageRequest) -> list[str]:
    """The resource paths a client may have signed, each starting with '/'.

    The path as sent, decoded, and re-quoted; for a path-style URL (``/{account}/...``) each
    also without the account segment, for a request rewritten by a gateway.
    """
    path = request.path or "/"
    paths = [path]
    prefix = f"/{request.account}"
    if path == prefix or path.startswith(prefix + "/"):
        paths.append(path[len(prefix) :] or "/")
    variants = []
    for p in paths:
        decoded = unquote(p)
        variants += [
            p,
            decoded,
            quote(decoded, safe=_PCHAR_SAFE),
            quote(decoded, safe=_PCHAR_SAFE.replace("+", "")),
        ]
    return _unique(variants)


def _long_resources(request: StorageRequest) -> list[str]:
    """The 2009-09-19+ canonicalized resource: path, then every query parameter."""
    grouped: dict[str, list[str]] = {}
    for name, value in request.query:
        grouped.setdefault(name.lower(), []).append(value)
    query = "".join(f"\n{name}:{','.join(sorted(grouped[name]))}" for name in sorted(grouped))
    return [f"/{request.account}{p}{query}" for p in path_variants(request)]


def _short_resources(request: StorageRequest) -> list[str]:
    """The Shared Key Lite and Table canonicalized resource: path, then only ``?comp=``."""
    comp = request.query_value("comp")
    suffix = f"?comp={comp}" if comp is not None else ""
    return [f"/{request.account}{p}{suffix}" for p in path_variants(request)]


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))
