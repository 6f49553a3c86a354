"""The authenticate step: picks the verifier for a service's auth scheme."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controlplane.adapter import RequestContext, Service
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.auth.storage import authenticate_storage


def _storage(service: Service, scope: dict, context: RequestContext, keys: Mapping[str, bytes]) -> Any:
    target = context.target
    raw_path = scope.get("raw_path") or scope["path"].encode()
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]},{text}" if name in headers else text
    client = scope.get("client")
    request = StorageRequest(
        method=scope["method"],
        account=target.account,
        path=raw_path.decode("latin-1"),
        query=[(k, v) for k, v in context.query.items()],
        headers=headers,
        client_ip=client[0] if client else "127.0.0.1",
        scheme=scope.get("scheme", "http"),
    )
    return authenticate_storage(
        request,
        target.service,
        context.operation,
        keys,
        lambda identifier: service.stored_access_policy(target.account, context.operation.resource, identifier),
    )


_AUTHENTICATORS: dict[str, Callable[[Service, dict, RequestContext, Mapping[str, bytes]], Any]] = {
    "storage": _storage,
    "none": lambda service, scope, context, keys: None,
}


def authenticate(service: Service, scope: dict, context: RequestContext, keys: Mapping[str, bytes]) -> Any:
    """Verify a request's credentials for its operation; raises an AzureError when refused."""
    return _AUTHENTICATORS[service.auth_scheme](service, scope, context, keys)
