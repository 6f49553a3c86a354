"""The two XML documents Table Storage speaks: stored access policies and service properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from adapters.table.errors import InvalidXmlDocument

MAX_POLICIES = 5

DEFAULT_SERVICE_PROPERTIES = (
    '<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties>'
    "<Logging><Version>1.0</Version><Read>false</Read><Write>false</Write><Delete>false</Delete>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>"
    "<HourMetrics><Version>1.0</Version><Enabled>false</Enabled>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></HourMetrics>"
    "<MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>"
    "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>"
    "<Cors />"
    "</StorageServiceProperties>"
)
_SERVICE_PARTS = ("Logging", "HourMetrics", "MinuteMetrics", "Cors")


def _parse(body: bytes, root_name: str) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise InvalidXmlDocument() from None
    if root.tag != root_name:
        raise InvalidXmlDocument()
    return root


def parse_signed_identifiers(body: bytes) -> list[dict[str, str]]:
    if not body.strip():
        return []
    root = _parse(body, "SignedIdentifiers")
    policies: list[dict[str, str]] = []
    for item in root.findall("SignedIdentifier"):
        identifier = (item.findtext("Id") or "").strip()
        if not identifier or len(identifier) > 64:
            raise InvalidXmlDocument()
        policy = {"id": identifier}
        access = item.find("AccessPolicy")
        if access is not None:
            for field, tag in (("start", "Start"), ("expiry", "Expiry"), ("permission", "Permission")):
                text = access.findtext(tag)
                if text:
                    policy[field] = text.strip()
        policies.append(policy)
    if len(policies) > MAX_POLICIES:
        raise InvalidXmlDocument()
    return policies


def signed_identifiers(policies: list[dict[str, str]]) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers>']
    for policy in policies:
        parts.append(f"<SignedIdentifier><Id>{escape(policy['id'])}</Id><AccessPolicy>")
        for field, tag in (("start", "Start"), ("expiry", "Expiry"), ("permission", "Permission")):
            if field in policy:
                parts.append(f"<{tag}>{escape(policy[field])}</{tag}>")
        parts.append("</AccessPolicy></SignedIdentifier>")
    parts.append("</SignedIdentifiers>")
    return "".join(parts).encode()


def merge_service_properties(body: bytes, current: str | None) -> str:
    """The stored document after a Set: the parts the request carries replace the current ones."""
    update = _parse(body, "StorageServiceProperties")
    base = ET.fromstring(current or DEFAULT_SERVICE_PROPERTIES)
    for name in _SERVICE_PARTS:
        new = update.find(name)
        if new is None:
            continue
        old = base.find(name)
        if old is not None:
            base.remove(old)
        base.append(new)
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(base, encoding="unicode")
