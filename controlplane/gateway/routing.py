"""Where a request goes: by hostname (edge port) or by path (a service's own port).

The hostname table is built from the adapters' own patterns, never a fixed list.
"""

from __future__ import annotations

from collections.abc import Iterable

from controlplane.adapter import Adapter, HostnamePattern, RequestTarget
from controlplane.gateway.errors import AzureError, InvalidUri


class UnknownHost(AzureError):
    status = 400
    code = "InvalidUri"


class HostRouter:
    def __init__(self, adapters: Iterable[Adapter]) -> None:
        self._patterns: list[tuple[HostnamePattern, str]] = [
            (pattern, adapter.name) for adapter in adapters for pattern in adapter.hostname_patterns
        ]

    def match(self, host: str) -> tuple[str, str] | None:
        """(service, account) for a Host header, or None."""
        for pattern, service in self._patterns:
            account = pattern.match(host)
            if account is not None:
                return service, account
        return None

    def route(self, host: str, path: str) -> RequestTarget:
        matched = self.match(host)
        if matched is None:
            raise UnknownHost(f"The host '{host}' is not a LocalZure service hostname.")
        service, account = matched
        return RequestTarget(service=service, account=_primary(account), path=path or "/", path_style=False)


def route_path_style(service: str, host: str, path: str, router: HostRouter) -> RequestTarget:
    """A service's own port: hostname-style if the Host names the service, else path-style."""
    matched = router.match(host)
    if matched is not None and matched[0] == service:
        return RequestTarget(service=service, account=_primary(matched[1]), path=path or "/", path_style=False)
    segment, _, rest = path.lstrip("/").partition("/")
    if not segment:
        raise InvalidUri("The requested URI does not represent any resource on the server.")
    return RequestTarget(service=service, account=_primary(segment), path="/" + rest, path_style=True)


def _primary(account: str) -> str:
    """``<account>-secondary`` (read-access geo-redundant endpoint) is served by the account itself."""
    return account.removesuffix("-secondary")
