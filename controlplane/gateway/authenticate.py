"""The authenticate step: picks the verifier for a service's auth scheme."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from controlplane.adapter import RequestContext, Service
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.auth.storage import authenticate_storage

log = logging.getLogger(__name__)


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


# ---- accounts created on first use (``auto_create_accounts``) ------------------------------

_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")


class AutoCreatingKeys(Mapping[str, bytes]):
    """The configured accounts, plus any well-formed unknown account on first use.

    A Shared Key signature or SAS cannot be turned back into the key it was made with, so
    an auto-created account gets one fixed key (``auto_create_key``, by default the
    well-known development key): an app whose connection string carries that key works
    under any account name; any other key gets the usual 403 AuthenticationFailed.
    """

    def __init__(self, configured: Mapping[str, bytes], key: bytes) -> None:
        self._keys = dict(configured)
        self._key = key

    def __getitem__(self, account: str) -> bytes:
        key = self._keys.get(account)
        if key is not None:
            return key
        if not _ACCOUNT_NAME.fullmatch(account):
            raise KeyError(account)
        log.info("account '%s' created on first use (auto_create_accounts)", account)
        self._keys[account] = self._key
        return self._key

    def __contains__(self, account: object) -> bool:
        return isinstance(account, str) and (account in self._keys or bool(_ACCOUNT_NAME.fullmatch(account)))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)
