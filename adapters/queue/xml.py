"""Queue Storage XML: response bodies built by string formatting, request bodies parsed.

Hot paths (messages) avoid any XML library: a well-formed message body without
entities or CDATA is matched by one regular expression, everything else falls back to
expat, which also tells a malformed document apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from adapters.queue.errors import InvalidXmlDocument, message_too_large
from adapters.queue.store import NEVER, Message, Queue
from adapters.storage import xml as storage_xml
from adapters.storage.xml import (
    DECLARATION,
    iso_time,
    node_value,
    parse,
    parse_bool,
    parse_cors_rule,
    parse_retention,
    service_stats,
    signed_identifiers,
    text,
)

__all__ = ["iso_time", "service_stats", "signed_identifiers"]

MESSAGE_LIMIT = 64 * 1024
"""Azure's limit on a message's text, in UTF-8 bytes."""
MAX_CORS_RULES = 5

_FAST_MESSAGE = re.compile(
    rb"\s*(?:<\?xml[^>]*\?>)?\s*<QueueMessage>\s*<MessageText>([^<&\r\x00-\x08\x0b\x0c\x0e-\x1f]*)"
    rb"</MessageText>\s*</QueueMessage>\s*"
)

# -- times ---------------------------------------------------------------------------------

_NEVER_TEXT = "Fri, 31 Dec 9999 23:59:59 GMT"


def http_date(moment: float) -> str:
    """RFC 1123 (what Azure puts in message times and x-ms-time-next-visible)."""
    return _NEVER_TEXT if moment == NEVER else storage_xml.http_date(moment)


def parse_signed_identifiers(body: bytes) -> list[dict[str, str]]:
    return storage_xml.parse_signed_identifiers(body, "raup", canonical_order=True)


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
    root = parse(body)
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
    root = parse(body)
    if root.tag != "StorageServiceProperties":
        raise InvalidXmlDocument()
    props = {**DEFAULT_PROPERTIES, **current}
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
                raise node_value("IncludeAPIs", "")
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
    return props


# -- shared --------------------------------------------------------------------------------
