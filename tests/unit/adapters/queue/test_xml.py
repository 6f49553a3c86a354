"""Queue XML bodies: message text parsing (fast path and expat), ACLs and service properties."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from adapters.queue import xml
from adapters.queue.errors import InvalidXmlDocument, InvalidXmlNodeValue, RequestBodyTooLarge
from adapters.queue.store import NEVER, Message


def _body(text: str) -> bytes:
    declaration = "<?xml version='1.0' encoding='utf-8'?>\n"
    return f"{declaration}<QueueMessage><MessageText>{text}</MessageText></QueueMessage>".encode()


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (_body("plain"), "plain"),
        (_body(""), ""),
        (_body("a &amp; b &lt;c&gt;"), "a &amp; b &lt;c&gt;"),
        (_body("x > y"), "x &gt; y"),
        (_body("&#233;t&#xE9;"), "été"),
        (_body("<![CDATA[<raw>&]]>"), "&lt;raw&gt;&amp;"),
        (_body("crlf\r\nline"), "crlf\nline"),
        (_body("keep&#13;cr"), "keep&#13;cr"),
        ("<QueueMessage>\n  <MessageText>ünï</MessageText>\n</QueueMessage>".encode(), "ünï"),
        ("<QueueMessage><MessageText>utf16</MessageText></QueueMessage>".encode("utf-16"), "utf16"),
    ],
)
def test_message_text_is_stored_escaped(body: bytes, stored: str) -> None:
    assert xml.parse_message_text(body) == stored


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<QueueMessage><MessageText>open</MessageText>",
        b"<QueueMessage><Other>x</Other></QueueMessage>",
        b"<Wrong><MessageText>x</MessageText></Wrong>",
        b"<QueueMessage><MessageText>\xff\xfe</MessageText></QueueMessage>",
        b"<QueueMessage><MessageText>bad \x01 char</MessageText></QueueMessage>",
    ],
)
def test_malformed_message_bodies(body: bytes) -> None:
    with pytest.raises(InvalidXmlDocument):
        xml.parse_message_text(body)


def test_message_size_is_counted_in_utf8_bytes_after_unescaping() -> None:
    assert len(xml.parse_message_text(_body("a" * 65536))) == 65536
    with pytest.raises(RequestBodyTooLarge) as info:
        xml.parse_message_text(_body("a" * 65537))
    assert info.value.status == 413
    assert info.value.details == {"MaxLimit": "65536"}
    # 65536 characters once unescaped, although the body carries far more bytes.
    assert xml.parse_message_text(_body("&amp;" * 65536)) == "&amp;" * 65536
    with pytest.raises(RequestBodyTooLarge):
        xml.parse_message_text(_body("é" * 32769))


def test_responses_are_well_formed_and_round_trip() -> None:
    message = Message("id-1", "a &amp; b&#13;", 1_700_000_000.5, NEVER, 1_700_000_030.0, 2, "receipt", 0)
    root = ElementTree.fromstring(xml.received_messages([message, message]))
    assert root.tag == "QueueMessagesList"
    assert len(root) == 2
    item = root[0]
    assert item.findtext("MessageText") == "a & b\r"
    assert item.findtext("InsertionTime") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert item.findtext("ExpirationTime") == "Fri, 31 Dec 9999 23:59:59 GMT"
    assert item.findtext("TimeNextVisible") == "Tue, 14 Nov 2023 22:13:50 GMT"
    assert item.findtext("DequeueCount") == "2"
    peeked = ElementTree.fromstring(xml.peeked_messages([message]))[0]
    assert peeked.find("PopReceipt") is None
    sent = ElementTree.fromstring(xml.sent_messages(message))[0]
    assert sent.find("MessageText") is None
    assert sent.findtext("PopReceipt") == "receipt"


def test_signed_identifiers_round_trip_and_normalise() -> None:
    body = (
        b"<SignedIdentifiers><SignedIdentifier><Id>one</Id><AccessPolicy><Start>2024-01-01T00:00:00Z</Start>"
        b"<Expiry>2024-02-01T10:00:00.5+01:00</Expiry><Permission>pr</Permission></AccessPolicy></SignedIdentifier>"
        b"<SignedIdentifier><Id>two</Id></SignedIdentifier></SignedIdentifiers>"
    )
    acl = xml.parse_signed_identifiers(body)
    assert acl == [
        {
            "id": "one",
            "start": "2024-01-01T00:00:00.0000000Z",
            "expiry": "2024-02-01T09:00:00.5000000Z",
            "permission": "rp",
        },
        {"id": "two"},
    ]
    assert xml.parse_signed_identifiers(xml.signed_identifiers(acl)) == acl
    assert xml.parse_signed_identifiers(b"") == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            b"<SignedIdentifiers>"
            + b"".join(b"<SignedIdentifier><Id>%d</Id></SignedIdentifier>" % i for i in range(6))
            + b"</SignedIdentifiers>",
            InvalidXmlDocument,
        ),
        (
            b"<SignedIdentifiers><SignedIdentifier><Id>a</Id></SignedIdentifier>"
            b"<SignedIdentifier><Id>a</Id></SignedIdentifier></SignedIdentifiers>",
            InvalidXmlDocument,
        ),
        (
            b"<SignedIdentifiers><SignedIdentifier><Id>" + b"x" * 65 + b"</Id></SignedIdentifier></SignedIdentifiers>",
            InvalidXmlNodeValue,
        ),
        (
            b"<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Permission>rw</Permission>"
            b"</AccessPolicy></SignedIdentifier></SignedIdentifiers>",
            InvalidXmlNodeValue,
        ),
        (
            b"<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Expiry>tomorrow</Expiry>"
            b"</AccessPolicy></SignedIdentifier></SignedIdentifiers>",
            InvalidXmlNodeValue,
        ),
        (
            b"<SignedIdentifiers><SignedIdentifier><Id>a</Id><AccessPolicy><Start>0001-01-01T00:00:00+01:00</Start>"
            b"</AccessPolicy></SignedIdentifier></SignedIdentifiers>",
            InvalidXmlNodeValue,
        ),
        (b"<Other/>", InvalidXmlDocument),
    ],
)
def test_bad_signed_identifiers(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        xml.parse_signed_identifiers(body)


def test_service_properties_merge_and_render() -> None:
    defaults = ElementTree.fromstring(xml.service_properties({}))
    assert defaults.findtext("Logging/Version") == "1.0"
    assert defaults.findtext("HourMetrics/Enabled") == "false"
    assert defaults.find("HourMetrics/IncludeAPIs") is None
    assert list(defaults.find("Cors") or []) == []

    first = xml.parse_service_properties(
        b"<StorageServiceProperties><HourMetrics><Version>1.0</Version><Enabled>true</Enabled>"
        b"<IncludeAPIs>false</IncludeAPIs><RetentionPolicy><Enabled>true</Enabled><Days>3</Days></RetentionPolicy>"
        b"</HourMetrics><Cors><CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods>"
        b"<MaxAgeInSeconds>5</MaxAgeInSeconds><ExposedHeaders></ExposedHeaders><AllowedHeaders></AllowedHeaders>"
        b"</CorsRule></Cors></StorageServiceProperties>",
        {},
    )
    second = xml.parse_service_properties(
        b"<StorageServiceProperties><Logging><Version>1.0</Version><Delete>true</Delete><Read>false</Read>"
        b"<Write>false</Write><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></Logging>"
        b"</StorageServiceProperties>",
        first,
    )
    rendered = ElementTree.fromstring(xml.service_properties(second))
    assert rendered.findtext("Logging/Delete") == "true"
    assert rendered.findtext("HourMetrics/Enabled") == "true"
    assert rendered.findtext("HourMetrics/IncludeAPIs") == "false"
    assert rendered.findtext("HourMetrics/RetentionPolicy/Days") == "3"
    assert rendered.findtext("Cors/CorsRule/AllowedOrigins") == "*"
    assert rendered.findtext("Cors/CorsRule/MaxAgeInSeconds") == "5"


@pytest.mark.parametrize(
    "body",
    [
        b"<StorageServiceProperties><Logging><Delete>maybe</Delete></Logging></StorageServiceProperties>",
        b"<StorageServiceProperties><HourMetrics><Enabled>true</Enabled><IncludeAPIs>true</IncludeAPIs>"
        b"<RetentionPolicy><Enabled>true</Enabled><Days>0</Days></RetentionPolicy></HourMetrics>"
        b"</StorageServiceProperties>",
        b"<StorageServiceProperties><HourMetrics><Enabled>true</Enabled></HourMetrics></StorageServiceProperties>",
        b"<StorageServiceProperties><Cors>"
        + b"<CorsRule><AllowedOrigins>*</AllowedOrigins><AllowedMethods>GET</AllowedMethods>"
        b"<MaxAgeInSeconds>1</MaxAgeInSeconds></CorsRule>" * 6 + b"</Cors></StorageServiceProperties>",
        b"<StorageServiceProperties><Cors><CorsRule><AllowedOrigins>*</AllowedOrigins>"
        b"<AllowedMethods>GET</AllowedMethods><MaxAgeInSeconds>\xc2\xb2</MaxAgeInSeconds></CorsRule></Cors>"
        b"</StorageServiceProperties>",
    ],
)
def test_bad_service_properties(body: bytes) -> None:
    with pytest.raises(InvalidXmlNodeValue):
        xml.parse_service_properties(body, {})
