"""Account and service shared access signatures (SAS): parse, then verify against one operation.

The string to sign depends on the signed version ``sv``. Each layout below is the one Azure
documents for the range of versions that starts at the constant it is keyed on; a version newer
than any known uses the newest layout, so future SDKs keep working.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from controlplane.adapter import Operation
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.auth.sharedkey import auth_failed, signature_matches
from controlplane.gateway.errors import (
    AuthorizationPermissionMismatch,
    AuthorizationProtocolMismatch,
    AuthorizationResourceTypeMismatch,
    AuthorizationServiceMismatch,
    AuthorizationSourceIPMismatch,
)

ACCOUNT_SAS = "account_sas"
SERVICE_SAS = "service_sas"

RESPONSE_HEADERS_VERSION = "2013-08-15"
"""Blob service SAS signs the rscc/rscd/rsce/rscl/rsct overrides."""
SERVICE_PREFIX_VERSION = "2015-02-21"
"""The canonicalized resource starts with ``/{service}``."""
IP_PROTOCOL_VERSION = "2015-04-05"
"""Service SAS signs ``sip`` and ``spr``."""
BLOB_RESOURCE_VERSION = "2018-11-09"
"""Blob service SAS signs ``sr`` and the snapshot time."""
ENCRYPTION_SCOPE_VERSION = "2020-12-06"
"""Account SAS and blob service SAS sign ``ses``."""

SERVICE_LETTERS = {"blob": "b", "queue": "q", "table": "t", "file": "f"}
SAS_FIELDS = frozenset(
    {
        "sv", "ss", "srt", "sp", "st", "se", "sip", "spr", "sig", "si", "sr", "sdd", "ses", "tn",
        "spk", "srk", "epk", "erk", "rscc", "rscd", "rsce", "rscl", "rsct",
        "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "sduoid", "skdutid",
    }
)  # fmt: skip

StoredPolicyLookup = Callable[[str], Mapping[str, str] | None]


@dataclass(frozen=True)
class TableSasRange:
    """The entity range a table SAS grants (``spk``/``srk`` .. ``epk``/``erk``, inclusive)."""

    start_pk: str | None = None
    start_rk: str | None = None
    end_pk: str | None = None
    end_rk: str | None = None

    @property
    def unbounded(self) -> bool:
        return self.start_pk is None and self.end_pk is None

    def contains(self, partition_key: str, row_key: str) -> bool:
        """True when the entity (partition_key, row_key) lies inside the range."""
        if self.start_pk is not None:
            if partition_key < self.start_pk:
                return False
            if partition_key == self.start_pk and self.start_rk is not None and row_key < self.start_rk:
                return False
        if self.end_pk is not None:
            if partition_key > self.end_pk:
                return False
            if partition_key == self.end_pk and self.end_rk is not None and row_key > self.end_rk:
                return False
        return True


@dataclass(frozen=True)
class SasToken:
    """The SAS fields of a request's query (first value of each)."""

    fields: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def signature(self) -> str:
        # Base64 holds no spaces: a space is a '+' some client left unencoded.
        return self.get("sig").replace(" ", "+")

    @property
    def version(self) -> str:
        return self.get("sv")

    @property
    def is_account_sas(self) -> bool:
        return "ss" in self.fields or "srt" in self.fields

    @property
    def table_range(self) -> TableSasRange:
        return TableSasRange(
            start_pk=self.fields.get("spk"),
            start_rk=self.fields.get("srk"),
            end_pk=self.fields.get("epk"),
            end_rk=self.fields.get("erk"),
        )


@dataclass(frozen=True)
class SasGrant:
    """What a verified SAS allows, after its stored access policy (if any) was applied."""

    kind: str
    """``account_sas`` or ``service_sas``."""
    permissions: str
    start: datetime | None
    expiry: datetime
    token: SasToken
    table_range: TableSasRange | None = None


def parse_sas(query: Sequence[tuple[str, str]]) -> SasToken | None:
    """The SAS in a decoded query, or None when there is no ``sig``."""
    fields: dict[str, str] = {}
    for name, value in query:
        if name in SAS_FIELDS and name not in fields:
            fields[name] = value
    return SasToken(fields) if "sig" in fields else None


def parse_sas_time(value: str, field: str = "se") -> datetime:
    """An ISO 8601 SAS time (date only, minutes, seconds or fractions; 'Z' or an offset) in UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise auth_failed(f"{field} is not in a valid format: '{value}'.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def verify_sas(
    token: SasToken,
    request: StorageRequest,
    service: str,
    operation: Operation,
    key: bytes,
    stored_policy: StoredPolicyLookup,
    now: datetime,
) -> SasGrant:
    """Verify an account SAS (``ss``/``srt`` present) or else a service SAS."""
    if token.is_account_sas:
        return verify_account_sas(token, request, service, operation, key, now)
    return verify_service_sas(token, request, service, operation, key, stored_policy, now)


def verify_account_sas(
    token: SasToken, request: StorageRequest, service: str, operation: Operation, key: bytes, now: datetime
) -> SasGrant:
    """Raise the Azure error an account SAS earns for this operation, else return its grant."""
    _require(token, "sv", "ss", "srt", "sp", "se")
    string_to_sign = account_string_to_sign(token, request.account)
    _check_signature(token, key, string_to_sign)
    start, expiry = _check_times(token.get("st"), token.get("se"), now)
    _check_ip(token.get("sip"), request.client_ip)
    _check_protocol(token.get("spr"), request.scheme)
    if SERVICE_LETTERS.get(service, "?") not in token.get("ss"):
        raise AuthorizationServiceMismatch()
    if operation.resource_type and operation.resource_type not in token.get("srt"):
        raise AuthorizationResourceTypeMismatch()
    _check_permission(token.get("sp"), operation)
    return SasGrant(kind=ACCOUNT_SAS, permissions=token.get("sp"), start=start, expiry=expiry, token=token)


def verify_service_sas(
    token: SasToken,
    request: StorageRequest,
    service: str,
    operation: Operation,
    key: bytes,
    stored_policy: StoredPolicyLookup,
    now: datetime,
) -> SasGrant:
    """Raise the Azure error a service SAS earns for this operation, else return its grant."""
    _require(token, "sv")
    resource = signed_resource(token, request, service, operation)
    _check_signature(token, key, service_string_to_sign(token, request, service, resource))
    start_text, expiry_text, permissions = _apply_policy(token, stored_policy)
    if not expiry_text:
        raise auth_failed("se is mandatory. Cannot be empty")
    if not permissions:
        raise auth_failed("sp is mandatory. Cannot be empty")
    start, expiry = _check_times(start_text, expiry_text, now)
    _check_ip(token.get("sip"), request.client_ip)
    _check_protocol(token.get("spr"), request.scheme)
    _check_permission(permissions, operation)
    table_range = token.table_range if service == "table" else None
    return SasGrant(
        kind=SERVICE_SAS,
        permissions=permissions,
        start=start,
        expiry=expiry,
        token=token,
        table_range=table_range,
    )


def account_string_to_sign(token: SasToken, account: str) -> str:
    fields = [account] + [token.get(f) for f in ("sp", "ss", "srt", "st", "se", "sip", "spr", "sv")]
    if token.version >= ENCRYPTION_SCOPE_VERSION:
        fields.append(token.get("ses"))
    return "\n".join(fields) + "\n"


def signed_resource(token: SasToken, request: StorageRequest, service: str, operation: Operation) -> str:
    """The canonicalized resource a service SAS for this operation must have signed.

    Raises AuthorizationResourceTypeMismatch when the operation lies outside what a service SAS
    can scope (account-level operations, or a container operation under a blob SAS).
    """
    path = operation.resource.strip("/")
    if not path:
        raise AuthorizationResourceTypeMismatch()
    if service == "table":
        path = path.lower()
    elif service == "blob":
        path = _blob_resource_path(token, path)
    elif service != "queue":
        raise auth_failed(f"A service SAS is not supported for the {service} service.")
    if token.version >= SERVICE_PREFIX_VERSION:
        return f"/{service}/{request.account}/{path}"
    return f"/{request.account}/{path}"


def service_string_to_sign(token: SasToken, request: StorageRequest, service: str, resource: str) -> str:
    version = token.version
    fields = [token.get(f) for f in ("sp", "st", "se")] + [resource, token.get("si")]
    if version >= IP_PROTOCOL_VERSION:
        fields += [token.get("sip"), token.get("spr")]
    fields.append(version)
    if service == "table":
        fields += [token.get(f) for f in ("spk", "srk", "epk", "erk")]
    elif service == "blob":
        if version >= BLOB_RESOURCE_VERSION:
            fields += [token.get("sr"), _snapshot_time(token, request)]
        if version >= ENCRYPTION_SCOPE_VERSION:
            fields.append(token.get("ses"))
        if version >= RESPONSE_HEADERS_VERSION:
            fields += [token.get(f) for f in ("rscc", "rscd", "rsce", "rscl", "rsct")]
    return "\n".join(fields)


def _blob_resource_path(token: SasToken, path: str) -> str:
    container, _, blob = path.partition("/")
    kind = token.get("sr")
    if kind == "c":
        return container
    if kind in ("b", "bs", "bv"):
        if not blob:
            raise AuthorizationResourceTypeMismatch()
        return path
    if kind == "d":
        depth_text = token.get("sdd")
        if not depth_text.isdigit():
            raise auth_failed("sdd is mandatory for a directory SAS and must be a non-negative integer.")
        depth = int(depth_text)
        segments = blob.split("/") if blob else []
        if len(segments) < depth:
            raise AuthorizationResourceTypeMismatch()
        return f"{container}/{'/'.join(segments[:depth])}"
    if not kind:
        raise auth_failed("sr is mandatory. Cannot be empty")
    raise auth_failed(f"sr value '{kind}' is not valid.")


def _snapshot_time(token: SasToken, request: StorageRequest) -> str:
    kind = token.get("sr")
    if kind == "bs":
        return request.query_value("snapshot") or ""
    if kind == "bv":
        return request.query_value("versionid") or ""
    return ""


def _require(token: SasToken, *names: str) -> None:
    for name in names:
        if not token.get(name):
            raise auth_failed(f"{name} is mandatory. Cannot be empty")


def _check_signature(token: SasToken, key: bytes, string_to_sign: str) -> None:
    if not _signed(key, string_to_sign, token.signature):
        raise auth_failed(f"Signature did not match. String to sign used was {string_to_sign}")


@functools.lru_cache(maxsize=4096)
def _signed(key: bytes, string_to_sign: str, signature: str) -> bool:
    # A client reuses one SAS for many requests: verify each distinct token once.
    return signature_matches(key, [string_to_sign], signature)


def _apply_policy(token: SasToken, stored_policy: StoredPolicyLookup) -> tuple[str, str, str]:
    """(start, expiry, permissions) once the stored access policy named by ``si`` fills the gaps."""
    given = {"start": token.get("st"), "expiry": token.get("se"), "permission": token.get("sp")}
    identifier = token.get("si")
    if not identifier:
        return given["start"], given["expiry"], given["permission"]
    policy = stored_policy(identifier)
    if policy is None:
        raise auth_failed(f"The specified signed identifier '{identifier}' does not exist.")
    merged = {}
    for name, sas_value in given.items():
        policy_value = _policy_text(policy.get(name))
        if sas_value and policy_value:
            raise auth_failed(
                f"The {name} is specified both in the SAS and in the stored access policy '{identifier}'."
            )
        merged[name] = sas_value or policy_value
    return merged["start"], merged["expiry"], merged["permission"]


def _policy_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _check_times(start_text: str, expiry_text: str, now: datetime) -> tuple[datetime | None, datetime]:
    start = parse_sas_time(start_text, "st") if start_text else None
    expiry = parse_sas_time(expiry_text, "se")
    if start is not None and expiry <= start:
        raise auth_failed(
            f"Signed expiry time [{_http_date(expiry)}] must be after signed start time [{_http_date(start)}]"
        )
    if now > expiry or (start is not None and now < start):
        raise auth_failed(
            "Signature not valid in the specified time frame: "
            f"Start [{_http_date(start) if start else ''}] - Expiry [{_http_date(expiry)}] - "
            f"Current [{_http_date(now)}]"
        )
    return start, expiry


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _check_ip(allowed: str, client_ip: str) -> None:
    if not allowed:
        return
    low_text, _, high_text = allowed.partition("-")
    try:
        low = ipaddress.ip_address(low_text.strip())
        high = ipaddress.ip_address(high_text.strip()) if high_text else low
    except ValueError:
        raise auth_failed(f"sip is not in a valid format: '{allowed}'.") from None
    if low.version != high.version:
        raise auth_failed(f"sip is not in a valid format: '{allowed}'.")
    try:
        client = ipaddress.ip_address(client_ip.strip("[]"))
    except ValueError:
        raise AuthorizationSourceIPMismatch() from None
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    if client.version != low.version or not low <= client <= high:  # type: ignore[operator]
        raise AuthorizationSourceIPMismatch()


def _check_protocol(allowed: str, scheme: str) -> None:
    if not allowed:
        return
    protocols = {p.strip().lower() for p in allowed.split(",")}
    if "https" not in protocols or not protocols <= {"https", "http"}:
        raise auth_failed(f"spr value '{allowed}' is not valid.")
    if scheme.lower() not in protocols:
        raise AuthorizationProtocolMismatch()


def _check_permission(granted: str, operation: Operation) -> None:
    needed = operation.sas_permission
    if needed and not set(needed) & set(granted):
        raise AuthorizationPermissionMismatch()
