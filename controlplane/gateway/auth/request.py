"""What the storage authenticators need to know about one request, and nothing more."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class StorageRequest:
    """One storage request as the gateway received it."""

    method: str
    account: str
    """The account addressed (from the hostname or the first path segment)."""
    path: str
    """The raw URL path exactly as sent on the wire, still percent-encoded.

    ``/devstoreaccount1/myqueue/messages`` for path-style, ``/myqueue/messages`` for hostname-style.
    """
    query: list[tuple[str, str]]
    """Decoded query pairs, in order."""
    headers: Mapping[str, str]
    """Lower-case header names -> value (repeated headers joined with ",")."""
    client_ip: str = "127.0.0.1"
    scheme: str = "http"

    def header(self, name: str) -> str:
        """A header's value, '' when absent (``name`` must be lower-case)."""
        return self.headers.get(name, "")

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter (exact name), or None when absent."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @classmethod
    def from_url(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        account: str | None = None,
        client_ip: str = "127.0.0.1",
    ) -> StorageRequest:
        """Build a request from an absolute URL.

        Without ``account`` it is taken from the hostname (``acct.blob.core.windows.net``) or, for
        an IP address or single-label host, from the first path segment (path-style).
        """
        parts = urlsplit(url)
        if account is None:
            account = _account_from(parts.hostname or "", parts.path)
        return cls(
            method=method.upper(),
            account=account,
            path=parts.path or "/",
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=lower_case_headers(headers),
            client_ip=client_ip,
            scheme=parts.scheme or "http",
        )


def lower_case_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased; a repeated header's values joined with ',' as HTTP allows."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    merged: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else str(value)
    return merged


def _account_from(host: str, path: str) -> str:
    try:
        ipaddress.ip_address(host)
        path_style = True
    except ValueError:
        path_style = "." not in host
    if path_style:
        return path.lstrip("/").split("/", 1)[0]
    return host.split(".", 1)[0].lower()
