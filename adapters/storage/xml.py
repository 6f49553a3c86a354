"""XML that Blob, Queue and Table Storage share: times, stored access policies, the pieces
of service properties, service stats, and the errors a bad document earns."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from controlplane.gateway.errors import AzureError, InvalidXmlDocument

DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
MAX_ACL_IDENTIFIERS = 5

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: dict[int, str] = {}


class InvalidXmlNodeValue(AzureError):
    status = 400
    code = "InvalidXmlNodeValue"
    message = "The value for one of the XML nodes is not in the correct format."


def node_value(name: str, value: str) -> InvalidXmlNodeValue:
    return InvalidXmlNodeValue(details={"XmlNodeName": name, "XmlNodeValue": value})


def http_date(moment: float) -> str:
    """RFC 1123, as Azure writes Last-Modified and message times (cached per second)."""
    second = int(moment)
    text = _date_cache.get(second)
    if text is None:
        t = time.gmtime(second)
        text = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        if len(_date_cache) > 4096:
            _date_cache.clear()
        _date_cache[second] = text
    return text


def iso_time(moment: datetime) -> str:
    """Azure's 7-digit ISO 8601 form, e.g. 2024-01-01T00:00:00.0000000Z."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def parse(body: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise InvalidXmlDocument() from None


def text(node: ElementTree.Element, tag: str, default: str) -> str:
    value = node.findtext(tag)
    return default if value is None else value.strip()


def parse_bool(node: ElementTree.Element, tag: str) -> bool:
    value = text(node, tag, "").lower()
    if value not in ("true", "false"):
        raise node_value(tag, value)
    return value == "true"


# -- stored access policies -------------------------------------------------------------------


def signed_identifiers(acl: Iterable[Mapping[str, str]]) -> bytes:
    parts = [f"{DECLARATION}<SignedIdentifiers>"]
    for entry in acl:
        parts.append(f"<SignedIdentifier><Id>{escape(entry['id'])}</Id><AccessPolicy>")
        for name, tag in (("start", "Start"), ("expiry", "Expiry"), ("permission", "Permission")):
            if name in entry:
                parts.append(f"<{tag}>{escape(entry[name])}</{tag}>")
        parts.append("</AccessPolicy></SignedIdentifier>")
    parts.append("</SignedIdentifiers>")
    return "".join(parts).encode()


def parse_signed_identifiers(body: bytes, letters: str, canonical_order: bool = False) -> list[dict[str, str]]:
    """Stored access policies: at most five, unique ids of 1-64 characters, ISO times, and
    permissions from ``letters`` (rewritten in that order when ``canonical_order``)."""
    if not body.strip():
        return []
    root = parse(body)
    if root.tag != "SignedIdentifiers":
        raise InvalidXmlDocument()
    acl: list[dict[str, str]] = []
    for node in root:
        identifier = (node.findtext("Id") or "").strip()
        if node.tag != "SignedIdentifier" or not identifier or len(identifier) > 64:
            raise node_value("Id", identifier)
        entry = {"id": identifier}
        policy = node.find("AccessPolicy")
        if policy is not None:
            for name, tag in (("start", "Start"), ("expiry", "Expiry")):
                value = (policy.findtext(tag) or "").strip()
                if value:
                    entry[name] = _policy_time(tag, value)
            permission = (policy.findtext("Permission") or "").strip()
            if permission:
                if set(permission) - set(letters):
                    raise node_value("Permission", permission)
                entry["permission"] = "".join(p for p in letters if p in permission) if canonical_order else permission
        acl.append(entry)
    if len(acl) > MAX_ACL_IDENTIFIERS or len({e["id"] for e in acl}) != len(acl):
        raise InvalidXmlDocument()
    return acl


def _policy_time(tag: str, value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_time(moment)
    except (ValueError, OverflowError):
        raise node_value(tag, value) from None


# -- service properties and stats ---------------------------------------------------------------


def parse_cors_rule(node: ElementTree.Element) -> dict[str, Any]:
    max_age = text(node, "MaxAgeInSeconds", "")
    if not (max_age.isascii() and max_age.isdigit()):
        raise node_value("MaxAgeInSeconds", max_age)
    origins = text(node, "AllowedOrigins", "")
    methods = text(node, "AllowedMethods", "")
    if not origins or not methods:
        raise node_value("AllowedOrigins" if not origins else "AllowedMethods", "")
    return {
        "allowed_origins": origins,
        "allowed_methods": methods,
        "allowed_headers": text(node, "AllowedHeaders", ""),
        "exposed_headers": text(node, "ExposedHeaders", ""),
        "max_age": int(max_age),
    }


def parse_retention(policy: ElementTree.Element | None) -> dict[str, Any]:
    if policy is None or not parse_bool(policy, "Enabled"):
        return {"enabled": False, "days": None}
    days = text(policy, "Days", "")
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= 365:
        raise node_value("Days", days)
    return {"enabled": True, "days": int(days)}


def service_stats(now: float) -> bytes:
    return (
        f"{DECLARATION}<StorageServiceStats><GeoReplication><Status>live</Status>"
        f"<LastSyncTime>{http_date(now)}</LastSyncTime></GeoReplication></StorageServiceStats>"
    ).encode()


# -- the analytics part of service properties (Logging, Hour/MinuteMetrics, Cors) ------------

MAX_CORS_RULES = 5
RETENTION_OFF: dict[str, Any] = {"enabled": False, "days": None}
ANALYTICS_DEFAULTS: dict[str, Any] = {
    "logging": {"version": "1.0", "delete": False, "read": False, "write": False, "retention": RETENTION_OFF},
    "hour_metrics": {"version": "1.0", "enabled": False, "include_apis": None, "retention": RETENTION_OFF},
    "minute_metrics": {"version": "1.0", "enabled": False, "include_apis": None, "retention": RETENTION_OFF},
    "cors": [],
}


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def retention(tag: str, policy: Mapping[str, Any]) -> str:
    days = f"<Days>{policy['days']}</Days>" if policy.get("enabled") and policy.get("days") is not None else ""
    return f"<{tag}><Enabled>{xml_bool(policy.get('enabled', False))}</Enabled>{days}</{tag}>"


def _metrics(tag: str, metrics: Mapping[str, Any]) -> str:
    include = metrics.get("include_apis")
    apis = f"<IncludeAPIs>{xml_bool(include)}</IncludeAPIs>" if metrics.get("enabled") and include is not None else ""
    return (
        f"<{tag}><Version>{escape(metrics['version'])}</Version><Enabled>{xml_bool(metrics['enabled'])}</Enabled>"
        f"{apis}{retention('RetentionPolicy', metrics['retention'])}</{tag}>"
    )


def render_analytics(props: Mapping[str, Any]) -> str:
    log = props["logging"]
    cors = "".join(
        f"<CorsRule><AllowedOrigins>{escape(r['allowed_origins'])}</AllowedOrigins>"
        f"<AllowedMethods>{escape(r['allowed_methods'])}</AllowedMethods>"
        f"<MaxAgeInSeconds>{r['max_age']}</MaxAgeInSeconds>"
        f"<ExposedHeaders>{escape(r['exposed_headers'])}</ExposedHeaders>"
        f"<AllowedHeaders>{escape(r['allowed_headers'])}</AllowedHeaders></CorsRule>"
        for r in props["cors"]
    )
    return (
        f"<Logging><Version>{escape(log['version'])}</Version><Delete>{xml_bool(log['delete'])}</Delete>"
        f"<Read>{xml_bool(log['read'])}</Read><Write>{xml_bool(log['write'])}</Write>"
        f"{retention('RetentionPolicy', log['retention'])}</Logging>"
        f"{_metrics('HourMetrics', props['hour_metrics'])}{_metrics('MinuteMetrics', props['minute_metrics'])}"
        f"<Cors>{cors}</Cors>"
    )


def parse_analytics(root: ElementTree.Element, props: dict[str, Any]) -> None:
    """Apply the Logging, metrics and Cors sections a Set Service Properties body carries."""
    node = root.find("Logging")
    if node is not None:
        props["logging"] = {
            "version": text(node, "Version", "1.0"),
            "delete": parse_bool(node, "Delete"),
            "read": parse_bool(node, "Read"),
            "write": parse_bool(node, "Write"),
            "retention": parse_retention(node.find("RetentionPolicy")),
        }
    for tag, key in (("HourMetrics", "hour_metrics"), ("MinuteMetrics", "minute_metrics")):
        node = root.find(tag)
        if node is not None:
            enabled = parse_bool(node, "Enabled")
            include = parse_bool(node, "IncludeAPIs") if node.find("IncludeAPIs") is not None else None
            if enabled and include is None:
                raise node_value("IncludeAPIs", "")  # required whenever metrics are enabled
            props[key] = {
                "version": text(node, "Version", "1.0"),
                "enabled": enabled,
                "include_apis": include if enabled else None,
                "retention": parse_retention(node.find("RetentionPolicy")),
            }
    node = root.find("Cors")
    if node is not None:
        rules = [parse_cors_rule(rule) for rule in node.findall("CorsRule")]
        if len(rules) > MAX_CORS_RULES:
            raise node_value("Cors", f"{len(rules)} rules")
        props["cors"] = rules
