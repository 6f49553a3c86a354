"""Leases on containers and blobs through the real SDK."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.storage.blob import BlobServiceClient, ContainerClient


def test_blob_lease_blocks_writers_without_the_id(container: ContainerClient) -> None:
    blob = container.upload_blob("leased", b"v1")
    lease = blob.acquire_lease(lease_duration=15)
    props = blob.get_blob_properties()
    assert props.lease.state == "leased" and props.lease.status == "locked" and props.lease.duration == "fixed"
    with pytest.raises(HttpResponseError) as info:
        blob.upload_blob(b"v2", overwrite=True)
    assert info.value.status_code == 412 and info.value.error_code == "LeaseIdMissing"
    with pytest.raises(HttpResponseError) as info:
        blob.set_blob_metadata({"a": "b"}, lease=str(uuid.uuid4()))
    assert info.value.status_code == 412 and info.value.error_code == "LeaseIdMismatchWithBlobOperation"
    with pytest.raises(HttpResponseError) as info:
        blob.delete_blob()
    assert info.value.status_code == 412
    blob.upload_blob(b"v2", overwrite=True, lease=lease)
    assert blob.download_blob().readall() == b"v2"
    # The lease outlives the overwrite.
    assert blob.get_blob_properties().lease.state == "leased"
    lease_id = lease.id
    lease.release()
    blob.set_blob_metadata({"free": "yes"})
    with pytest.raises(HttpResponseError) as info:
        blob.set_blob_metadata({"a": "b"}, lease=lease_id)
    assert info.value.error_code == "LeaseNotPresentWithBlobOperation"


def test_acquire_when_held_renew_change_break(container: ContainerClient) -> None:
    blob = container.upload_blob("cycle", b"x")
    lease = blob.acquire_lease()
    with pytest.raises(ResourceExistsError) as info:
        blob.acquire_lease()
    assert info.value.error_code == "LeaseAlreadyPresent"
    lease.renew()
    new_id = str(uuid.uuid4())
    lease.change(new_id)
    assert lease.id == new_id
    props = blob.get_blob_properties()
    assert props.lease.duration == "infinite"
    other = blob.acquire_lease(lease_id=new_id)  # acquiring with the current id is allowed
    assert other.id == new_id
    assert lease.break_lease() == 0
    assert blob.get_blob_properties().lease.state == "broken"
    with pytest.raises(HttpResponseError) as info:
        lease.renew()
    assert info.value.error_code == "LeaseIsBrokenAndCannotBeRenewed"
    blob.acquire_lease(lease_duration=15)


def test_break_period_and_expiry(container: ContainerClient) -> None:
    blob = container.upload_blob("breaking", b"x")
    lease = blob.acquire_lease(lease_duration=15)
    assert lease.break_lease(lease_break_period=1) == 1
    assert blob.get_blob_properties().lease.state == "breaking"
    with pytest.raises(HttpResponseError) as info:
        blob.set_blob_metadata({"a": "b"})
    assert info.value.error_code == "LeaseIdMissing"
    time.sleep(1.2)
    assert blob.get_blob_properties().lease.state == "broken"
    blob.set_blob_metadata({"a": "b"})


def test_release_with_wrong_id_is_409(container: ContainerClient) -> None:
    blob = container.upload_blob("wrong", b"x")
    blob.acquire_lease()
    from azure.storage.blob import BlobLeaseClient

    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(blob, lease_id=str(uuid.uuid4())).release()
    assert info.value.status_code == 409 and info.value.error_code == "LeaseIdMismatchWithLeaseOperation"


def test_container_lease(service: BlobServiceClient, container_name: str) -> None:
    container = service.create_container(container_name)
    lease = container.acquire_lease()
    assert container.get_container_properties().lease.state == "leased"
    with pytest.raises(HttpResponseError) as info:
        container.delete_container()
    assert info.value.status_code == 412 and info.value.error_code == "LeaseIdMissing"
    with pytest.raises(HttpResponseError) as info:
        container.set_container_metadata({"a": "b"}, lease=str(uuid.uuid4()))
    assert info.value.error_code == "LeaseIdMismatchWithContainerOperation"
    container.set_container_metadata({"a": "b"}, lease=lease)
    container.delete_container(lease=lease)


def test_etag_mismatch_on_lease(container: ContainerClient) -> None:
    from azure.core import MatchConditions

    blob = container.upload_blob("etag", b"x")
    with pytest.raises(ResourceModifiedError):
        blob.acquire_lease(etag='"0x1"', match_condition=MatchConditions.IfNotModified)
