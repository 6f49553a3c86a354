"""The edge as an HTTP(S) forward proxy that never forwards.

``HTTPS_PROXY=http://127.0.0.1:8080`` makes a client send ``CONNECT host:443``: the edge
answers ``200 Connection Established`` for Azure service hostnames (and ``*.localhost``),
then terminates TLS itself with a certificate minted for that host and serves the requests
through the gateway. Nothing is ever connected to: other hosts get ``403``. Plain-HTTP
proxying (``HTTP_PROXY``, absolute-form request lines) needs nothing here: uvicorn routes
``GET http://host/path`` by its path, and the client sends the host in ``Host``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.gateway.routing import HostRouter

MAX_CONNECT_HEAD = 8192
"""Bytes a CONNECT request line plus its headers may take."""

ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


class BadConnect(Exception):
    """A CONNECT request that cannot be parsed."""


@dataclass(frozen=True)
class ConnectRequest:
    host: str
    """Lower-case, without brackets for IPv6 literals."""
    port: int


def parse_connect(head: bytes) -> ConnectRequest:
    """``CONNECT host:port HTTP/1.1`` plus headers, up to and including the blank line."""
    line, _, _ = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"CONNECT" or not parts[2].startswith(b"HTTP/1."):
        raise BadConnect("expected 'CONNECT host:port HTTP/1.1'")
    try:
        authority = parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise BadConnect("the CONNECT target is not ASCII") from None
    if authority.startswith("["):
        host, sep, rest = authority[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise BadConnect("expected '[address]:port'")
        port_text = rest[1:]
    else:
        host, sep, port_text = authority.rpartition(":")
        if not sep:
            raise BadConnect("the CONNECT target has no port")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadConnect(f"bad CONNECT target {authority!r}")
    return ConnectRequest(host.lower().rstrip("."), int(port_text))


def error_response(status: int, reason: str, message: str) -> bytes:
    body = message.encode("utf-8") + b"\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii") + body


class ProxyPolicy:
    """Which hosts a client may CONNECT to (and get a certificate minted for)."""

    def __init__(self, router: HostRouter, extra: Callable[[str], bool] | None = None) -> None:
        self.router = router
        self.extra = extra

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if self.router.match(host) is not None:
            return True
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            if ipaddress.ip_address(host).is_loopback:
                return True
        except ValueError:
            pass
        return self.extra is not None and self.extra(host)
