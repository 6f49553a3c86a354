"""Queue Storage XML: response bodies built by string formatting, request bodies parsed.

Hot paths (messages) avoid any XML library: a well-formed message body without
entities or CDATA is matched by one regular expression, everything else falls back to
expat, which also tells a malformed document apart.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from adapters.queue.errors import InvalidXmlDocument, InvalidXmlNodeValue, message_too_large
from adapters.queue.store import NEVER, Message, Queue

MESSAGE_LIMIT = 64 * 1024
"""Azure's limit on a message's text, in UTF-8 bytes."""
MAX_ACL_IDENTIFIERS = 5
MAX_CORS_RULES = 5

DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

_FAST_MESSAGE = re.compile(
    rb"\s*(?:<\?xml[^>]*\?>)?\s*<QueueMessage>\s*<MessageText>([^<&\r\x00-\x08\x0b\x0c\x0e-\x1f]*)"
    rb"</MessageText>\s*</QueueMessage>\s*"
)

# -- times ---------------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NEVER_TEXT = "Fri, 31 Dec 9999 23:59:59 GMT"
_date_cache: dict[int, str] = {}


def http_date(moment: float) -> str:
    """RFC 1123 (what Azure puts in message times and x-ms-time-next-visible)."""
    if moment == NEVER:
        return _NEVER_TEXT
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


# -- messages ------------------------------------------------------------------------------


def escape_text(text: str) -> str:
    text = escape(text)
    return text.replace("\r", "&#13;") if "\r" in text else text


def parse_message_text(body: bytes) -> str:
    """The XML-escaped MessageText of a QueueMessage body (ready to embed in responses)."""
    match = _FAST_MESSAGE.fullmatch(body)
    if match is not None:
        raw = match.group(1)
        if len(raw) > MESSAGE_LIMIT:
            raise message_too_large(MESSAGE_LIMIT)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise InvalidXmlDocument() from None
        return text.replace(">", "&gt;") if ">" in text else text
    root = _parse(body)
    node = root.find("MessageText") if root.tag == "QueueMessage" else None
    if node is None:
        raise InvalidXmlDocument()
    text = node.text or ""
    if len(text.encode()) > MESSAGE_LIMIT:
        raise message_too_large(MESSAGE_LIMIT)
    return escape_text(text)


def _times(m: Message) -> str:
    return (
        f"<MessageId>{m.id}</MessageId><InsertionTime>{http_date(m.inserted)}</InsertionTime>"
        f"<ExpirationTime>{http_date(m.expires)}</ExpirationTime>"
    )


def sent_messages(m: Message) -> bytes:
    return (
        f"{DECLARATION}<QueueMessagesList><QueueMessage>{_times(m)}<PopReceipt>{m.receipt}</PopReceipt>"
        f"<TimeNextVisible>{http_date(m.visible)}</TimeNextVisible></QueueMessage></QueueMessagesList>"
    ).encode()


def received_messages(messages: Iterable[Message]) -> bytes:
    items = "".join(
        f"<QueueMessage>{_times(m)}<PopReceipt>{m.receipt}</PopReceipt>"
        f"<TimeNextVisible>{http_date(m.visible)}</TimeNextVisible><DequeueCount>{m.dequeues}</DequeueCount>"
        f"<MessageText>{m.xml_text}</MessageText></QueueMessage>"
        for m in messages
    )
    return f"{DECLARATION}<QueueMessagesList>{items}</QueueMessagesList>".encode()


def peeked_messages(messages: Iterable[Message]) -> bytes:
    items = "".join(
        f"<QueueMessage>{_times(m)}<DequeueCount>{m.dequeues}</DequeueCount>"
        f"<MessageText>{m.xml_text}</MessageText></QueueMessage>"
        for m in messages
    )
    return f"{DECLARATION}<QueueMessagesList>{items}</QueueMessagesList>".encode()


# -- queues --------------------------------------------------------------------------------


def queue_list(
    endpoint: str,
    queues: Iterable[Queue],
    prefix: str | None,
    marker: str | None,
    max_results: str | None,
    next_marker: str,
    include_metadata: bool,
) -> bytes:
    parts = [f'{DECLARATION}<EnumerationResults ServiceEndpoint="{escape(endpoint, {chr(34): "&quot;"})}">']
    if prefix is not None:
        parts.append(f"<Prefix>{escape(prefix)}</Prefix>")
    if marker is not None:
        parts.append(f"<Marker>{escape(marker)}</Marker>")
    if max_results is not None:
        parts.append(f"<MaxResults>{escape(max_results)}</MaxResults>")
    parts.append("<Queues>")
    for queue in queues:
        parts.append(f"<Queue><Name>{queue.name}</Name>")
        if include_metadata:
            if queue.metadata:
                items = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in queue.metadata.items())
                parts.append(f"<Metadata>{items}</Metadata>")
            else:
                parts.append("<Metadata />")
        parts.append("</Queue>")
    parts.append("</Queues>")
    parts.append(f"<NextMarker>{escape(next_marker)}</NextMarker>" if next_marker else "<NextMarker />")
    parts.append("</EnumerationResults>")
    return "".join(parts).encode()


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


def parse_signed_identifiers(body: bytes) -> list[dict[str, str]]:
    if not body.strip():
        return []
    root = _parse(body)
    if root.tag != "SignedIdentifiers":
        raise InvalidXmlDocument()
    acl: list[dict[str, str]] = []
    for node in root:
        if node.tag != "SignedIdentifier":
            raise InvalidXmlDocument()
        identifier = (node.findtext("Id") or "").strip()
        if not identifier or len(identifier) > 64:
            raise _node_value("Id", identifier)
        entry = {"id": identifier}
        policy = node.find("AccessPolicy")
        if policy is not None:
            for name, tag in (("start", "Start"), ("expiry", "Expiry")):
                value = (policy.findtext(tag) or "").strip()
                if value:
                    entry[name] = _policy_time(tag, value)
            permission = (policy.findtext("Permission") or "").strip()
            if permission:
                if set(permission) - set("raup"):
                    raise _node_value("Permission", permission)
                entry["permission"] = "".join(p for p in "raup" if p in permission)
        acl.append(entry)
    if len(acl) > MAX_ACL_IDENTIFIERS:
        raise InvalidXmlDocument()
    if len({entry["id"] for entry in acl}) != len(acl):
        raise InvalidXmlDocument()
    return acl


def _policy_time(tag: str, value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_time(moment)
    except (ValueError, OverflowError):
        raise _node_value(tag, value) from None


# -- service -------------------------------------------------------------------------------

_DEFAULT_RETENTION: dict[str, Any] = {"enabled": False, "days": None}
DEFAULT_PROPERTIES: dict[str, Any] = {
    "logging": {"version": "1.0", "delete": False, "read": False, "write": False, "retention": _DEFAULT_RETENTION},
    "hour_metrics": {"version": "1.0", "enabled": False, "include_apis": None, "retention": _DEFAULT_RETENTION},
    "minute_metrics": {"version": "1.0", "enabled": False, "include_apis": None, "retention": _DEFAULT_RETENTION},
    "cors": [],
}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _retention(policy: Mapping[str, Any]) -> str:
    days = f"<Days>{policy['days']}</Days>" if policy.get("enabled") and policy.get("days") is not None else ""
    return f"<RetentionPolicy><Enabled>{_bool(policy.get('enabled', False))}</Enabled>{days}</RetentionPolicy>"


def _metrics(tag: str, metrics: Mapping[str, Any]) -> str:
    include = metrics.get("include_apis")
    apis = f"<IncludeAPIs>{_bool(include)}</IncludeAPIs>" if metrics.get("enabled") and include is not None else ""
    return (
        f"<{tag}><Version>{escape(metrics['version'])}</Version><Enabled>{_bool(metrics['enabled'])}</Enabled>"
        f"{apis}{_retention(metrics['retention'])}</{tag}>"
    )


def service_properties(stored: Mapping[str, Any]) -> bytes:
    props = {**DEFAULT_PROPERTIES, **stored}
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
        f"{DECLARATION}<StorageServiceProperties>"
        f"<Logging><Version>{escape(log['version'])}</Version><Delete>{_bool(log['delete'])}</Delete>"
        f"<Read>{_bool(log['read'])}</Read><Write>{_bool(log['write'])}</Write>"
        f"{_retention(log['retention'])}</Logging>"
        f"{_metrics('HourMetrics', props['hour_metrics'])}{_metrics('MinuteMetrics', props['minute_metrics'])}"
        f"<Cors>{cors}</Cors></StorageServiceProperties>"
    ).encode()


def parse_service_properties(body: bytes, current: Mapping[str, Any]) -> dict[str, Any]:
    """The stored properties after a Set Queue Service Properties: omitted sections stay as they were."""
    root = _parse(body)
    if root.tag != "StorageServiceProperties":
        raise InvalidXmlDocument()
    props = {**DEFAULT_PROPERTIES, **current}
    node = root.find("Logging")
    if node is not None:
        props["logging"] = {
            "version": _text(node, "Version", "1.0"),
            "delete": _parse_bool(node, "Delete"),
            "read": _parse_bool(node, "Read"),
            "write": _parse_bool(node, "Write"),
            "retention": _parse_retention(node),
        }
    for tag, key in (("HourMetrics", "hour_metrics"), ("MinuteMetrics", "minute_metrics")):
        node = root.find(tag)
        if node is not None:
            enabled = _parse_bool(node, "Enabled")
            include = _parse_bool(node, "IncludeAPIs") if node.find("IncludeAPIs") is not None else None
            if enabled and include is None:
                raise _node_value("IncludeAPIs", "")
            props[key] = {
                "version": _text(node, "Version", "1.0"),
                "enabled": enabled,
                "include_apis": include if enabled else None,
                "retention": _parse_retention(node),
            }
    node = root.find("Cors")
    if node is not None:
        rules = [_parse_cors_rule(rule) for rule in node.findall("CorsRule")]
        if len(rules) > MAX_CORS_RULES:
            raise _node_value("Cors", f"{len(rules)} rules")
        props["cors"] = rules
    return props


def _parse_cors_rule(node: ElementTree.Element) -> dict[str, Any]:
    max_age = _text(node, "MaxAgeInSeconds", "")
    if not (max_age.isascii() and max_age.isdigit()):
        raise _node_value("MaxAgeInSeconds", max_age)
    origins = _text(node, "AllowedOrigins", "")
    methods = _text(node, "AllowedMethods", "")
    if not origins or not methods:
        raise _node_value("AllowedOrigins" if not origins else "AllowedMethods", "")
    return {
        "allowed_origins": origins,
        "allowed_methods": methods,
        "allowed_headers": _text(node, "AllowedHeaders", ""),
        "exposed_headers": _text(node, "ExposedHeaders", ""),
        "max_age": int(max_age),
    }


def _parse_retention(node: ElementTree.Element) -> dict[str, Any]:
    policy = node.find("RetentionPolicy")
    if policy is None:
        return dict(_DEFAULT_RETENTION)
    enabled = _parse_bool(policy, "Enabled")
    if not enabled:
        return {"enabled": False, "days": None}
    days = _text(policy, "Days", "")
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= 365:
        raise _node_value("Days", days)
    return {"enabled": True, "days": int(days)}


def _text(node: ElementTree.Element, tag: str, default: str) -> str:
    value = node.findtext(tag)
    return default if value is None else value.strip()


def _parse_bool(node: ElementTree.Element, tag: str) -> bool:
    value = _text(node, tag, "").lower()
    if value not in ("true", "false"):
        raise _node_value(tag, value)
    return value == "true"


def service_stats(now: float) -> bytes:
    return (
        f"{DECLARATION}<StorageServiceStats><GeoReplication><Status>live</Status>"
        f"<LastSyncTime>{http_date(now)}</LastSyncTime></GeoReplication></StorageServiceStats>"
    ).encode()


# -- shared --------------------------------------------------------------------------------


def _parse(body: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise InvalidXmlDocument() from None


def _node_value(name: str, value: str) -> InvalidXmlNodeValue:
    return InvalidXmlNodeValue(details={"XmlNodeName": name, "XmlNodeValue": value})
