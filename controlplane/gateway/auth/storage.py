"""The one entry point that authenticates a Blob, Queue or Table request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from controlplane.adapter import Operation
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.auth.sas import SasGrant, TableSasRange, parse_sas, verify_sas
from controlplane.gateway.auth.sharedkey import (
    SHARED_KEY_LITE,
    auth_failed,
    parse_authorization,
    verify_shared_key,
)
from controlplane.gateway.errors import AccountNotFound, AuthorizationPermissionMismatch

SHAREDKEY = "sharedkey"
SHAREDKEYLITE = "sharedkeylite"
ACCOUNT_SAS = "account_sas"
SERVICE_SAS = "service_sas"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class AuthResult:
    """Who authorized a request, and what a SAS leaves for the service itself to enforce."""

    scheme: str
    """``sharedkey``, ``sharedkeylite``, ``account_sas``, ``service_sas`` or ``anonymous``."""
    account: str
    sas: SasGrant | None = None
    table_range: TableSasRange | None = None
    """For a table service SAS: the partition/row key range the table adapter must enforce."""


def authenticate_storage(
    request: StorageRequest,
    service: str,
    operation: Operation,
    keys: Mapping[str, bytes],
    stored_policy: Callable[[str], Mapping[str, str] | None],
    now: datetime | None = None,
) -> AuthResult:
    """Authorize one storage request or raise the AzureError Azure would answer with.

    ``service`` is ``blob``, ``queue``, ``table`` (or ``file`` for Shared Key); ``keys`` maps
    account names to decoded keys; ``stored_policy`` looks up a service SAS's ``si`` on the
    resource the operation addresses.
    """
    key = keys.get(request.account)
    if key is None:
        raise AccountNotFound()
    authorization = request.header("authorization")
    if authorization:
        credential = parse_authorization(authorization)
        verify_shared_key(request, service, credential, key)
        scheme = SHAREDKEYLITE if credential.scheme == SHARED_KEY_LITE else SHAREDKEY
        return AuthResult(scheme=scheme, account=request.account)
    token = parse_sas(request.query)
    if token is not None:
        grant = verify_sas(token, request, service, operation, key, stored_policy, now or datetime.now(UTC))
        if not operation.sas_allowed:
            raise AuthorizationPermissionMismatch()
        return AuthResult(scheme=grant.kind, account=request.account, sas=grant, table_range=grant.table_range)
    if operation.anonymous:
        return AuthResult(scheme=ANONYMOUS, account=request.account)
    # Azure answers 401 NoAuthenticationInformation (with a bearer challenge) on newer versions and
    # Azurite 403 AuthorizationFailure; we answer 403 AuthenticationFailed, which the storage SDKs
    # turn into the same ClientAuthenticationError as a wrong signature.
    raise auth_failed("No credentials were found in the request: neither an Authorization header nor a SAS.")
