"""Blob Storage: the operation table and the in-process service (raw ASGI).

An operation is keyed by (method, path shape, variant): the shape is ``service`` (``/``),
``container`` (``/c``) or ``blob`` (``/c/name/with/slashes``); the variant is
``restype|comp`` for the service and containers and ``comp`` for blobs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.blob import containers, errors, reads, service, writes
from adapters.blob.content import ContentStore
from adapters.blob.models import Blob, Container
from adapters.blob.protocol import NotModified, etag_headers, headers_of
from adapters.blob.store import BlobStore
from controlplane.adapter import Operation, RequestContext, RequestTarget, Service, ServiceContext
from controlplane.periodic import Periodic

log = logging.getLogger(__name__)

INLINE_LIMIT = 8 * 1024
"""Put Blob bodies up to this size live in the blob's state record rather than in a file."""
PURGE_INTERVAL = 60.0

Handler = Callable[[Any, dict, Callable, Callable, RequestContext, dict[str, str]], Awaitable[None]]

# (method, shape, variant) -> (operation, SAS permission letters, account-SAS resource type, handler)
ROUTES: dict[tuple[str, str, str], tuple[str, str, str, Handler]] = {
    ("GET", "service", "|list"): ("ListContainers", "l", "s", service.list_containers),
    ("GET", "service", "service|properties"): ("GetBlobServiceProperties", "r", "s", service.get_properties),
    ("PUT", "service", "service|properties"): ("SetBlobServiceProperties", "w", "s", service.set_properties),
    ("GET", "service", "service|stats"): ("GetBlobServiceStats", "r", "s", service.get_stats),
    ("GET", "service", "account|properties"): ("GetAccountInformation", "", "s", service.account_info),
    ("HEAD", "service", "account|properties"): ("GetAccountInformation", "", "s", service.account_info),
    ("GET", "service", "|blobs"): ("FindBlobsByTags", "f", "s", service.find_by_tags),
    ("POST", "service", "|batch"): ("BlobBatch", "", "s", service.batch),
    ("PUT", "container", "container|"): ("CreateContainer", "c", "c", containers.create),
    ("DELETE", "container", "container|"): ("DeleteContainer", "d", "c", containers.delete),
    ("GET", "container", "container|"): ("GetContainerProperties", "r", "c", containers.get_properties),
    ("HEAD", "container", "container|"): ("GetContainerProperties", "r", "c", containers.get_properties),
    ("GET", "container", "container|metadata"): ("GetContainerMetadata", "r", "c", containers.get_properties),
    ("HEAD", "container", "container|metadata"): ("GetContainerMetadata", "r", "c", containers.get_properties),
    ("PUT", "container", "container|metadata"): ("SetContainerMetadata", "w", "c", containers.set_metadata),
    ("GET", "container", "container|acl"): ("GetContainerACL", "", "c", containers.get_acl),
    ("HEAD", "container", "container|acl"): ("GetContainerACL", "", "c", containers.get_acl),
    ("PUT", "container", "container|acl"): ("SetContainerACL", "", "c", containers.set_acl),
    ("PUT", "container", "container|lease"): ("LeaseContainer", "wd", "c", containers.lease),
    ("GET", "container", "container|list"): ("ListBlobs", "l", "c", containers.list_blobs),
    ("PUT", "container", "container|undelete"): ("RestoreContainer", "w", "c", containers.restore),
    ("POST", "container", "container|batch"): ("BlobBatch", "", "c", service.batch),
    ("GET", "container", "container|blobs"): ("FindBlobsByTags", "f", "c", service.find_by_tags),
    ("PUT", "blob", ""): ("PutBlob", "cw", "o", writes.put_blob),
    ("GET", "blob", ""): ("GetBlob", "r", "o", reads.get_blob),
    ("HEAD", "blob", ""): ("GetBlobProperties", "r", "o", reads.get_blob),
    ("DELETE", "blob", ""): ("DeleteBlob", "dx", "o", reads.delete_blob),
    ("PUT", "blob", "block"): ("PutBlock", "w", "o", writes.put_block),
    ("PUT", "blob", "blocklist"): ("PutBlockList", "w", "o", writes.put_block_list),
    ("GET", "blob", "blocklist"): ("GetBlockList", "r", "o", reads.get_block_list),
    ("PUT", "blob", "properties"): ("SetBlobProperties", "w", "o", reads.set_properties),
    ("GET", "blob", "metadata"): ("GetBlobMetadata", "r", "o", reads.get_metadata),
    ("HEAD", "blob", "metadata"): ("GetBlobMetadata", "r", "o", reads.get_metadata),
    ("PUT", "blob", "metadata"): ("SetBlobMetadata", "w", "o", reads.set_metadata),
    ("PUT", "blob", "lease"): ("LeaseBlob", "wd", "o", reads.lease),
    ("PUT", "blob", "snapshot"): ("SnapshotBlob", "cw", "o", reads.snapshot),
    ("PUT", "blob", "copy"): ("AbortCopyBlob", "w", "o", writes.abort_copy),
    ("PUT", "blob", "tier"): ("SetBlobTier", "w", "o", reads.set_tier),
    ("GET", "blob", "tags"): ("GetBlobTags", "t", "o", reads.get_tags),
    ("PUT", "blob", "tags"): ("SetBlobTags", "t", "o", reads.set_tags),
    ("PUT", "blob", "appendblock"): ("AppendBlock", "aw", "o", writes.append_block),
    ("PUT", "blob", "seal"): ("SealAppendBlob", "w", "o", writes.seal),
    ("PUT", "blob", "page"): ("PutPage", "w", "o", writes.put_page),
    ("GET", "blob", "pagelist"): ("GetPageRanges", "r", "o", reads.get_page_ranges),
    ("PUT", "blob", "undelete"): ("UndeleteBlob", "w", "o", reads.undelete),
}
_KNOWN = {(shape, variant) for _, shape, variant in ROUTES}
_HANDLERS: dict[str, Handler] = {name: handler for name, _, _, handler in ROUTES.values()}

# Reads a public container lets anyone make: 'blob' access opens blob reads, 'container' also listing.
_PUBLIC_BLOB_READS = frozenset({"GetBlob", "GetBlobProperties", "GetBlobMetadata", "GetBlockList", "GetPageRanges"})
_PUBLIC_CONTAINER_READS = frozenset({"ListBlobs", "GetContainerProperties", "GetContainerMetadata"})

# Only the account key may read or set a container's stored access policies, never a SAS.
_OWNER_ONLY = frozenset({"GetContainerACL", "SetContainerACL"})

_CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
MAX_BLOB_NAME = 1024


def split_path(path: str) -> tuple[str, str, str]:
    """(shape, container, blob) of a resource path below the account."""
    container, _, blob = path[1:].partition("/") if path.startswith("/") else path.partition("/")
    if not container:
        return "service", "", ""
    if not blob:
        return "container", container, ""
    return "blob", container, blob


def check_container_name(name: str) -> None:
    if name == "$root" or name == "$web" or name == "$logs":
        return
    if not _CONTAINER_NAME.fullmatch(name):
        if not 3 <= len(name) <= 63:
            raise errors.OutOfRangeInput("The specified resource name length is not within the permissible limits.")
        raise errors.InvalidResourceName()


def check_blob_name(name: str) -> None:
    if len(name) > MAX_BLOB_NAME:
        raise errors.OutOfRangeInput("The specified resource name length is not within the permissible limits.")
    if not name.strip("/"):
        raise errors.InvalidResourceName()


class BlobService(Service):
    auth_scheme = "storage"
    error_format = "xml"

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        settings = context.settings
        self.inline_limit = int(settings.get("inline_limit", INLINE_LIMIT))
        self.versioning = bool(settings.get("versioning", False))
        self.container_soft_delete_days = int(settings.get("container_soft_delete_days", 0))
        self.content = ContentStore(context.data_dir)
        self.store = BlobStore(context.state, self.content)
        self._purger = Periodic("blob-purge", PURGE_INTERVAL, self.purge)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.load()
        self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()

    async def reset(self) -> None:
        self.store.reset()

    def health(self) -> dict[str, Any]:
        return self.store.counts()

    def stored_access_policy(self, account: str, resource: str, identifier: str) -> Mapping[str, str] | None:
        return self.store.access_policy(account, resource, identifier)

    def purge(self) -> None:
        self.store.purge_deleted_containers(lambda account: self.container_soft_delete_days)
        for container in list(self.store.containers.values()):
            self.store.purge_deleted_blobs(container)

    # -- routing ----------------------------------------------------------------------------

    def resolve(self, method: str, target: RequestTarget, query: Mapping[str, str]) -> Operation:
        shape, container, blob = split_path(target.path)
        if method == "OPTIONS":
            return Operation(name="Preflight", resource=container, anonymous=True)
        variant = query.get("comp", "") if shape == "blob" else f"{query.get('restype', '')}|{query.get('comp', '')}"
        route = ROUTES.get((method, shape, variant))
        if route is None:
            if (shape, variant) in _KNOWN:
                raise errors.UnsupportedHttpVerb()
            raise errors.InvalidUri()
        name, permission, resource_type, _ = route
        resource = f"{container}/{blob}" if blob else container
        anonymous = False
        if method in ("GET", "HEAD") and (name in _PUBLIC_BLOB_READS or name in _PUBLIC_CONTAINER_READS):
            found = self.store.containers.get((target.account, container))
            if found is not None and found.public_access:
                anonymous = name in _PUBLIC_BLOB_READS or found.public_access == "container"
        return Operation(
            name=name,
            sas_permission=permission,
            resource_type=resource_type,
            resource=resource,
            anonymous=anonymous,
            sas_allowed=name not in _OWNER_ONLY,
        )

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        context: RequestContext = scope["localzure"]
        headers = headers_of(scope)
        if context.operation.name == "Preflight":
            return await service.preflight(self, scope, receive, send, context, headers)
        handler = _HANDLERS[context.operation.name]
        if "origin" in headers:
            send = service.cors_sender(self, context, headers, scope["method"], send)
        try:
            await handler(self, scope, receive, send, context, headers)
        except NotModified as exc:
            response = [*etag_headers(exc.etag, exc.modified), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 304, "headers": response})
            await send({"type": "http.response.body", "body": b""})

    # -- lookups shared by the handlers -----------------------------------------------------

    def container(self, context: RequestContext) -> Container:
        name = context.operation.resource.split("/", 1)[0]
        container = self.store.containers.get((context.target.account, name))
        if container is None:
            check_container_name(name)
            raise errors.ContainerNotFound()
        return container

    def blob(self, context: RequestContext) -> tuple[Container, Blob]:
        """The live blob a request names (or its snapshot / version when the query asks)."""
        container = self.container(context)
        name = split_path(context.target.path)[2]
        query = context.query
        snapshot = query.get("snapshot")
        version = query.get("versionid")
        if snapshot or version:
            for blob in self.store.generations(container, name):
                if blob.deleted:
                    continue
                if (snapshot and blob.snapshot == snapshot) or (
                    version and blob.version == version and not blob.snapshot
                ):
                    return container, blob
            raise errors.BlobNotFound()
        live = container.blobs.get(name)
        if live is None:
            raise errors.BlobNotFound()
        return container, live

    def versioning_on(self, account: str) -> bool:
        return self.versioning or bool(self.store.get_service_properties(account).get("versioning"))
