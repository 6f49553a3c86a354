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
    ANALYTICS_DEFAULTS,
    DECLARATION,
    iso_time,
    parse,
    parse_analytics,
    render_analytics,
    service_stats,
    signed_identifiers,
)

__all__ = ["iso_time", "service_stats", "signed_identifiers"]

MESSAGE_LIMIT = 64 * 1024
"""Azure's limit on a message's text, in UTF-8 bytes."""

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

DEFAULT_PROPERTIES = ANALYTICS_DEFAULTS


def service_properties(stored: Mapping[str, Any]) -> bytes:
    props = {**DEFAULT_PROPERTIES, **stored}
    return f"{DECLARATION}<StorageServiceProperties>{render_analytics(props)}</StorageServiceProperties>".encode()


def parse_service_properties(body: bytes, current: Mapping[str, Any]) -> dict[str, Any]:
    """The stored properties after a Set Queue Service Properties: omitted sections stay as they were."""
    root = parse(body)
    if root.tag != "StorageServiceProperties":
        raise InvalidXmlDocument()
    props = {**DEFAULT_PROPERTIES, **current}
    parse_analytics(root, props)
    return props
