"""Authentication and authorization of Blob requests: keys, SAS (account, service, stored
policies) and anonymous reads of public containers."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    AccessPolicy,
    AccountSasPermissions,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    PublicAccess,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

ACCOUNT = "devstoreaccount1"


def _later(hours: int = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def test_wrong_key_is_403(localzure: LocalZureThread) -> None:
    wrong = base64.b64encode(b"not the key" * 4).decode()
    service = BlobServiceClient(localzure.url("blob"), credential={"account_name": ACCOUNT, "account_key": wrong})
    with pytest.raises(ClientAuthenticationError) as info:
        service.create_container(f"c-{uuid.uuid4().hex[:10]}")
    assert info.value.status_code == 403 and info.value.error_code == "AuthenticationFailed"


def test_no_credentials_on_private_container_is_refused(localzure: LocalZureThread, container: ContainerClient) -> None:
    container.upload_blob("secret", b"x")
    response = httpx.get(f"{localzure.url('blob')}/{container.container_name}/secret")
    assert response.status_code in (401, 403, 404)
    assert response.content != b"x"


def test_account_sas_read_only_cannot_write(localzure: LocalZureThread, container: ContainerClient) -> None:
    container.upload_blob("readable", b"data")
    sas = generate_account_sas(
        ACCOUNT,
        WELL_KNOWN_KEY,
        ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, list=True),
        expiry=_later(),
    )
    service = BlobServiceClient(localzure.url("blob"), credential=sas)
    client = service.get_container_client(container.container_name)
    assert client.download_blob("readable").readall() == b"data"
    assert [b.name for b in client.list_blobs()] == ["readable"]
    with pytest.raises(HttpResponseError) as info:
        client.upload_blob("new", b"nope")
    assert info.value.status_code == 403 and info.value.error_code == "AuthorizationPermissionMismatch"
    with pytest.raises(HttpResponseError) as info:
        client.delete_blob("readable")
    assert info.value.status_code == 403


def test_expired_sas_is_403(localzure: LocalZureThread, container: ContainerClient) -> None:
    container.upload_blob("old", b"data")
    sas = generate_blob_sas(
        ACCOUNT, container.container_name, "old", account_key=WELL_KNOWN_KEY,
        permission=BlobSasPermissions(read=True), expiry=datetime.now(UTC) - timedelta(minutes=5),
    )  # fmt: skip
    client = BlobClient(localzure.url("blob"), container.container_name, "old", credential=sas)
    with pytest.raises(ClientAuthenticationError) as info:
        client.download_blob().readall()
    assert info.value.status_code == 403


def test_blob_sas_is_scoped_to_its_blob(localzure: LocalZureThread, container: ContainerClient) -> None:
    container.upload_blob("mine", b"mine")
    container.upload_blob("other", b"other")
    sas = generate_blob_sas(
        ACCOUNT, container.container_name, "mine", account_key=WELL_KNOWN_KEY,
        permission=BlobSasPermissions(read=True, write=True), expiry=_later(),
    )  # fmt: skip
    mine = BlobClient(localzure.url("blob"), container.container_name, "mine", credential=sas)
    assert mine.download_blob().readall() == b"mine"
    mine.upload_blob(b"changed", overwrite=True)
    other = BlobClient(localzure.url("blob"), container.container_name, "other", credential=sas)
    with pytest.raises(ClientAuthenticationError):
        other.download_blob().readall()


def test_container_sas_with_stored_access_policy(localzure: LocalZureThread, container: ContainerClient) -> None:
    container.set_container_access_policy(
        signed_identifiers={
            "readers": AccessPolicy(permission=ContainerSasPermissions(read=True, list=True), expiry=_later())
        }
    )
    acl = container.get_container_access_policy()
    assert [i.id for i in acl["signed_identifiers"]] == ["readers"]
    assert acl["signed_identifiers"][0].access_policy.permission == "rl"
    container.upload_blob("doc", b"policy body")
    sas = generate_container_sas(ACCOUNT, container.container_name, account_key=WELL_KNOWN_KEY, policy_id="readers")
    client = ContainerClient(localzure.url("blob"), container.container_name, credential=sas)
    assert client.download_blob("doc").readall() == b"policy body"
    with pytest.raises(HttpResponseError) as info:
        client.upload_blob("x", b"y")
    assert info.value.status_code == 403
    # Removing the policy revokes every SAS issued against it.
    container.set_container_access_policy(signed_identifiers={})
    with pytest.raises(ClientAuthenticationError):
        client.download_blob("doc").readall()


def test_public_access_levels(localzure: LocalZureThread, service: BlobServiceClient) -> None:
    name = f"pub-{uuid.uuid4().hex[:10]}"
    container = service.create_container(name, public_access=PublicAccess.BLOB)
    try:
        container.upload_blob("open.txt", b"public bytes")
        anonymous = ContainerClient(localzure.url("blob"), name)
        assert anonymous.download_blob("open.txt").readall() == b"public bytes"
        with pytest.raises(HttpResponseError):
            list(anonymous.list_blobs())  # 'blob' access does not open listing
        with pytest.raises(HttpResponseError):
            anonymous.upload_blob("nope", b"x")
        container.set_container_access_policy(signed_identifiers={}, public_access=PublicAccess.CONTAINER)
        assert container.get_container_properties().public_access == "container"
        assert [b.name for b in anonymous.list_blobs()] == ["open.txt"]
        with pytest.raises(ResourceNotFoundError):
            anonymous.download_blob("missing").readall()
        container.set_container_access_policy(signed_identifiers={})
        with pytest.raises(HttpResponseError):
            anonymous.download_blob("open.txt").readall()
    finally:
        container.delete_container()


def test_sas_cannot_read_the_acl(localzure: LocalZureThread, container: ContainerClient) -> None:
    sas = generate_container_sas(
        ACCOUNT, container.container_name, account_key=WELL_KNOWN_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True), expiry=_later(),
    )  # fmt: skip
    client = ContainerClient(localzure.url("blob"), container.container_name, credential=sas)
    with pytest.raises(HttpResponseError) as info:
        client.get_container_access_policy()
    assert info.value.status_code == 403
