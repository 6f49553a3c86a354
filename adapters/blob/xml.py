"""Blob Storage XML: response bodies built by string formatting, request bodies parsed with expat."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from adapters.blob.errors import InvalidXmlDocument
from adapters.blob.models import APPEND, BLOCK, PAGE, Blob, Container
from adapters.storage import xml as storage_xml
from adapters.storage.xml import (
    ANALYTICS_DEFAULTS,
    DECLARATION,
    RETENTION_OFF,
    InvalidXmlNodeValue,
    http_date,
    iso_time,
    node_value,
    parse,
    parse_analytics,
    parse_bool,
    parse_retention,
    render_analytics,
    retention,
    service_stats,
    signed_identifiers,
    xml_bool,
)

__all__ = [
    "DECLARATION",
    "InvalidXmlNodeValue",
    "http_date",
    "iso_time",
    "node_value",
    "parse",
    "service_stats",
    "signed_identifiers",
]

_POLICY_LETTERS = "racwdxyltmeopi"


def parse_signed_identifiers(body: bytes) -> list[dict[str, str]]:
    return storage_xml.parse_signed_identifiers(body, _POLICY_LETTERS)


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _metadata(metadata: Mapping[str, str]) -> str:
    if not metadata:
        return "<Metadata />"
    return "<Metadata>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in metadata.items()) + "</Metadata>"


def _tags(tags: Mapping[str, str]) -> str:
    items = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items())
    return f"<Tags><TagSet>{items}</TagSet></Tags>"


def _optional(tag: str, value: str | None) -> str:
    return f"<{tag}>{escape(value)}</{tag}>" if value is not None else ""


def _next_marker(marker: str) -> str:
    return f"<NextMarker>{escape(marker)}</NextMarker>" if marker else "<NextMarker />"


# -- containers --------------------------------------------------------------------------------


def container_list(
    endpoint: str,
    containers: Iterable[Container],
    prefix: str | None,
    marker: str | None,
    max_results: str | None,
    next_marker: str,
    include_metadata: bool,
    lease_view: Any,
) -> bytes:
    parts = [f'{DECLARATION}<EnumerationResults ServiceEndpoint="{_attr(endpoint)}">']
    parts.append(_optional("Prefix", prefix))
    parts.append(_optional("Marker", marker))
    parts.append(_optional("MaxResults", max_results))
    parts.append("<Containers>")
    for container in containers:
        status, state, duration = lease_view(container.lease)
        parts.append(f"<Container><Name>{escape(container.name)}</Name>")
        if container.deleted:
            parts.append(f"<Deleted>true</Deleted><Version>{container.id}</Version>")
        parts.append(
            f"<Properties><Last-Modified>{http_date(container.modified)}</Last-Modified>"
            f"<Etag>{container.etag}</Etag><LeaseStatus>{status}</LeaseStatus><LeaseState>{state}</LeaseState>"
        )
        if duration:
            parts.append(f"<LeaseDuration>{duration}</LeaseDuration>")
        if container.public_access:
            parts.append(f"<PublicAccess>{container.public_access}</PublicAccess>")
        parts.append(
            "<HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold>"
            "<DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope>"
            "<DenyEncryptionScopeOverride>false</DenyEncryptionScopeOverride>"
        )
        if container.deleted:
            parts.append(f"<DeletedTime>{http_date(container.deleted)}</DeletedTime>")
            parts.append("<RemainingRetentionDays>1</RemainingRetentionDays>")
        parts.append("</Properties>")
        if include_metadata:
            parts.append(_metadata(container.metadata))
        parts.append("</Container>")
    parts.append(f"</Containers>{_next_marker(next_marker)}</EnumerationResults>")
    return "".join(parts).encode()


_POLICY_LETTERS = "racwdxyltmeopi"


# -- blobs -------------------------------------------------------------------------------------


def blob_item(blob: Blob, include: set[str], lease_view: Any, current: bool) -> str:
    parts = [f"<Blob><Name>{escape(blob.name)}</Name>"]
    if blob.deleted:
        parts.append("<Deleted>true</Deleted>")
    if blob.snapshot:
        parts.append(f"<Snapshot>{blob.snapshot}</Snapshot>")
    if blob.version and "versions" in include:
        parts.append(f"<VersionId>{blob.version}</VersionId>")
        if current:
            parts.append("<IsCurrentVersion>true</IsCurrentVersion>")
    parts.append(
        f"<Properties><Creation-Time>{http_date(blob.created)}</Creation-Time>"
        f"<Last-Modified>{http_date(blob.modified)}</Last-Modified><Etag>{blob.etag}</Etag>"
        f"<Content-Length>{blob.size}</Content-Length>"
        f"<Content-Type>{escape(blob.content_type)}</Content-Type>"
        f"<Content-Encoding>{escape(blob.content_encoding)}</Content-Encoding>"
        f"<Content-Language>{escape(blob.content_language)}</Content-Language>"
        f"<Content-CRC64 /><Content-MD5>{blob.content_md5}</Content-MD5>"
        f"<Cache-Control>{escape(blob.cache_control)}</Cache-Control>"
        f"<Content-Disposition>{escape(blob.content_disposition)}</Content-Disposition>"
    )
    if blob.kind == PAGE:
        parts.append(f"<x-ms-blob-sequence-number>{blob.sequence}</x-ms-blob-sequence-number>")
    parts.append(f"<BlobType>{blob.kind}</BlobType>")
    if blob.kind == BLOCK:
        parts.append(f"<AccessTier>{blob.tier or 'Hot'}</AccessTier>")
        if not blob.tier:
            parts.append("<AccessTierInferred>true</AccessTierInferred>")
        else:
            parts.append(f"<AccessTierChangeTime>{http_date(blob.tier_changed)}</AccessTierChangeTime>")
    if not blob.snapshot and not blob.deleted:
        status, state, duration = lease_view(blob.lease)
        parts.append(f"<LeaseStatus>{status}</LeaseStatus><LeaseState>{state}</LeaseState>")
        if duration:
            parts.append(f"<LeaseDuration>{duration}</LeaseDuration>")
    if blob.copy:
        parts.append(_copy_properties(blob.copy))
    if blob.kind == APPEND:
        parts.append(f"<Sealed>{xml_bool(blob.sealed)}</Sealed>")
    if blob.deleted:
        parts.append(
            f"<DeletedTime>{http_date(blob.deleted)}</DeletedTime><RemainingRetentionDays>1</RemainingRetentionDays>"
        )
    if blob.tags:
        parts.append(f"<TagCount>{len(blob.tags)}</TagCount>")
    parts.append("<ServerEncrypted>true</ServerEncrypted></Properties>")
    if "metadata" in include:
        parts.append(_metadata(blob.metadata))
    if "tags" in include and blob.tags:
        parts.append(_tags(blob.tags))
    parts.append("</Blob>")
    return "".join(parts)


def _copy_properties(copy: Mapping[str, Any]) -> str:
    parts = [
        f"<CopyId>{copy['id']}</CopyId><CopySource>{escape(copy['source'])}</CopySource>"
        f"<CopyStatus>{copy['status']}</CopyStatus><CopyProgress>{copy['progress']}</CopyProgress>"
        f"<CopyCompletionTime>{http_date(copy['completed'])}</CopyCompletionTime>"
    ]
    if copy.get("description"):
        parts.append(f"<CopyStatusDescription>{escape(copy['description'])}</CopyStatusDescription>")
    return "".join(parts)


def blob_list(
    endpoint: str,
    container: str,
    items: Iterable[str],
    prefixes: Iterable[str],
    prefix: str | None,
    marker: str | None,
    max_results: str | None,
    delimiter: str | None,
    next_marker: str,
) -> bytes:
    parts = [
        f'{DECLARATION}<EnumerationResults ServiceEndpoint="{_attr(endpoint)}" ContainerName="{_attr(container)}">'
    ]
    parts.append(_optional("Prefix", prefix))
    parts.append(_optional("Marker", marker))
    parts.append(_optional("MaxResults", max_results))
    parts.append(_optional("Delimiter", delimiter))
    parts.append("<Blobs>")
    parts.extend(items)
    parts.extend(f"<BlobPrefix><Name>{escape(p)}</Name></BlobPrefix>" for p in prefixes)
    parts.append(f"</Blobs>{_next_marker(next_marker)}</EnumerationResults>")
    return "".join(parts).encode()


def tagged_blobs(endpoint: str, found: Iterable[tuple[str, str, Mapping[str, str]]], next_marker: str) -> bytes:
    parts = [f'{DECLARATION}<EnumerationResults ServiceEndpoint="{_attr(endpoint)}"><Where /><Blobs>']
    for container, name, tags in found:
        parts.append(
            f"<Blob><Name>{escape(name)}</Name><ContainerName>{escape(container)}</ContainerName>{_tags(tags)}</Blob>"
        )
    parts.append(f"</Blobs>{_next_marker(next_marker)}</EnumerationResults>")
    return "".join(parts).encode()


def tags_document(tags: Mapping[str, str]) -> bytes:
    return f"{DECLARATION}{_tags(tags)}".encode()


def parse_tags(body: bytes) -> dict[str, str]:
    root = parse(body)
    tag_set = root.find("TagSet") if root.tag == "Tags" else None
    if tag_set is None:
        raise InvalidXmlDocument()
    tags: dict[str, str] = {}
    for node in tag_set:
        tags[node.findtext("Key") or ""] = node.findtext("Value") or ""
    return tags


# -- blocks and pages --------------------------------------------------------------------------


def parse_block_list(body: bytes) -> list[tuple[str, str]]:
    """[(Committed|Uncommitted|Latest, block id)] in order."""
    root = parse(body)
    if root.tag != "BlockList":
        raise InvalidXmlDocument()
    entries = []
    for node in root:
        if node.tag not in ("Committed", "Uncommitted", "Latest"):
            raise InvalidXmlDocument()
        entries.append((node.tag, (node.text or "").strip()))
    return entries


def block_list(committed: Iterable[tuple[str, int]], uncommitted: Iterable[tuple[str, int]] | None) -> bytes:
    parts = [f"{DECLARATION}<BlockList>"]
    if committed is not None:
        parts.append("<CommittedBlocks>")
        parts.extend(f"<Block><Name>{i}</Name><Size>{s}</Size></Block>" for i, s in committed)
        parts.append("</CommittedBlocks>")
    if uncommitted is not None:
        parts.append("<UncommittedBlocks>")
        parts.extend(f"<Block><Name>{i}</Name><Size>{s}</Size></Block>" for i, s in uncommitted)
        parts.append("</UncommittedBlocks>")
    parts.append("</BlockList>")
    return "".join(parts).encode()


def page_list(ranges: Iterable[list[int]], cleared: Iterable[list[int]] = ()) -> bytes:
    parts = [f"{DECLARATION}<PageList>"]
    parts.extend(f"<PageRange><Start>{s}</Start><End>{e - 1}</End></PageRange>" for s, e in ranges)
    parts.extend(f"<ClearRange><Start>{s}</Start><End>{e - 1}</End></ClearRange>" for s, e in cleared)
    parts.append("</PageList>")
    return "".join(parts).encode()


# -- service -----------------------------------------------------------------------------------

DEFAULT_PROPERTIES: dict[str, Any] = {
    **ANALYTICS_DEFAULTS,
    "default_version": None,
    "delete_retention": RETENTION_OFF,
    "static_website": {"enabled": False, "index": None, "error": None, "default_index": None},
}


def service_properties(stored: Mapping[str, Any]) -> bytes:
    props = {**DEFAULT_PROPERTIES, **stored}
    site = props["static_website"]
    website = f"<StaticWebsite><Enabled>{xml_bool(site['enabled'])}</Enabled>"
    if site["enabled"]:
        website += _optional("IndexDocument", site.get("index"))
        website += _optional("ErrorDocument404Path", site.get("error"))
        website += _optional("DefaultIndexDocumentPath", site.get("default_index"))
    website += "</StaticWebsite>"
    version = _optional("DefaultServiceVersion", props.get("default_version"))
    return (
        f"{DECLARATION}<StorageServiceProperties>{render_analytics(props)}{version}"
        f"{retention('DeleteRetentionPolicy', props['delete_retention'])}{website}</StorageServiceProperties>"
    ).encode()


def parse_service_properties(body: bytes, current: Mapping[str, Any]) -> dict[str, Any]:
    """The stored properties after Set Blob Service Properties: omitted sections stay as they were."""
    root = parse(body)
    if root.tag != "StorageServiceProperties":
        raise InvalidXmlDocument()
    props = {**DEFAULT_PROPERTIES, **current}
    parse_analytics(root, props)
    version = root.findtext("DefaultServiceVersion")
    if version is not None:
        props["default_version"] = version.strip() or None
    node = root.find("DeleteRetentionPolicy")
    if node is not None:
        props["delete_retention"] = parse_retention(node)
    node = root.find("StaticWebsite")
    if node is not None:
        props["static_website"] = {
            "enabled": parse_bool(node, "Enabled"),
            "index": node.findtext("IndexDocument"),
            "error": node.findtext("ErrorDocument404Path"),
            "default_index": node.findtext("DefaultIndexDocumentPath"),
        }
    return props
