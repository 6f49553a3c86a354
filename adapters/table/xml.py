"""The two XML documents Table Storage speaks: stored access policies and service properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from adapters.storage import xml as storage_xml
from adapters.storage.xml import signed_identifiers
from adapters.table.errors import InvalidXmlDocument

__all__ = ["merge_service_properties", "parse_signed_identifiers", "signed_identifiers"]


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
    return storage_xml.parse_signed_identifiers(body, "raud")


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
