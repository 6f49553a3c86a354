"""Where a request goes: by hostname (edge port) or by path (a service's own port).

The hostname table is built from the adapters' own patterns, never a fixed list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controlplane.adapter import Adapter, HostnamePattern, RequestTarget
from controlplane.gateway.errors import AzureError, InvalidUri


class UnknownHost(AzureError):
    status = 400
    code = "InvalidUri"


URL_ROUTE_PREFIX = "route:"


def url_route_service(hostname: str) -> str:
    """The pseudo-service name under which a ``hostname -> URL`` route is forwarded."""
    return URL_ROUTE_PREFIX + hostname.lower()


class HostRouter:
    """Custom routes from the config first (exact hostnames), then the adapters' patterns.

    A route is ``hostname -> service``, ``hostname -> service/account`` (without an account,
    the hostname's first label is the account) or ``hostname -> http(s)://backend``.
    """

    def __init__(self, adapters: Iterable[Adapter], routes: Mapping[str, str] | None = None) -> None:
        adapters = list(adapters)
        self._patterns: list[tuple[HostnamePattern, str]] = [
            (pattern, adapter.name) for adapter in adapters for pattern in adapter.hostname_patterns
        ]
        known = {adapter.name for adapter in adapters}
        self._exact: dict[str, tuple[str, str | None]] = {}
        for hostname, destination in (routes or {}).items():
            hostname = hostname.lower()
            if "://" in destination:
                self._exact[hostname] = (url_route_service(hostname), "")
                continue
            service, _, account = destination.partition("/")
            if service not in known:
                raise ValueError(f"route {hostname} -> {destination}: no installed service '{service}'")
            self._exact[hostname] = (service, account or None)

    def match(self, host: str) -> tuple[str, str] | None:
        """(service, account) for a Host header, or None."""
        hostname = host.split(":", 1)[0].lower()
        exact = self._exact.get(hostname)
        if exact is not None:
            service, account = exact
            return service, hostname.split(".", 1)[0] if account is None else account
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


def route_path_style(
    service: str, host: str, path: str, router: HostRouter, account_in_path: bool = True
) -> RequestTarget:
    """A service's own port: hostname-style if the Host names the service, else path-style
    (or, for a service without accounts in its paths, the host's first label names it)."""
    matched = router.match(host)
    if matched is not None and matched[0] == service:
        return RequestTarget(service=service, account=_primary(matched[1]), path=path or "/", path_style=False)
    if not account_in_path:
        return RequestTarget(
            service=service, account=host.split(".", 1)[0].split(":", 1)[0], path=path or "/", path_style=False
        )
    segment, _, rest = path.lstrip("/").partition("/")
    if not segment:
        raise InvalidUri("The requested URI does not represent any resource on the server.")
    return RequestTarget(service=service, account=_primary(segment), path="/" + rest, path_style=True)


def _primary(account: str) -> str:
    """``<account>-secondary`` (read-access geo-redundant endpoint) is served by the account itself."""
    return account.removesuffix("-secondary")
