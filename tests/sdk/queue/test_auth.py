"""Credentials against the queue service: Shared Key, account SAS, service SAS and stored policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.queue import (
    AccessPolicy,
    AccountSasPermissions,
    QueueClient,
    QueueSasPermissions,
    QueueServiceClient,
    ResourceTypes,
    generate_account_sas,
    generate_queue_sas,
)

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

ACCOUNT = "devstoreaccount1"
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="


def _in(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def _queue_with_sas(localzure: LocalZureThread, name: str, sas: str) -> QueueClient:
    return QueueClient(account_url=localzure.url("queue"), queue_name=name, credential=sas)


def test_wrong_key_is_403(localzure: LocalZureThread, queue: QueueClient) -> None:
    client = QueueClient.from_connection_string(
        localzure.connection_string("queue", key=WRONG_KEY), queue_name=queue.queue_name
    )
    with pytest.raises(ClientAuthenticationError) as info:
        client.send_message("nope")
    assert info.value.status_code == 403
    assert info.value.error_code == "AuthenticationFailed"
    assert queue.get_queue_properties().approximate_message_count == 0


def test_no_credentials_is_403(localzure: LocalZureThread, queue: QueueClient) -> None:
    # The SDK refuses to build a credential-less client, so this one request is raw.
    response = httpx.get(f"{localzure.url('queue')}/{queue.queue_name}/messages?peekonly=true")
    assert response.status_code == 403
    assert response.headers["x-ms-error-code"] == "AuthenticationFailed"


def test_service_sas_with_enough_permissions(localzure: LocalZureThread, queue: QueueClient) -> None:
    sas = generate_queue_sas(
        ACCOUNT,
        queue.queue_name,
        WELL_KNOWN_KEY,
        permission=QueueSasPermissions(add=True, process=True, read=True),
        expiry=_in(1),
    )
    client = _queue_with_sas(localzure, queue.queue_name, sas)
    client.send_message("via sas")
    assert [m.content for m in client.peek_messages()] == ["via sas"]
    [message] = client.receive_messages()
    client.delete_message(message)
    assert queue.peek_messages() == []


def test_under_privileged_service_sas_is_403(localzure: LocalZureThread, queue: QueueClient) -> None:
    sas = generate_queue_sas(ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, permission="r", expiry=_in(1))
    client = _queue_with_sas(localzure, queue.queue_name, sas)
    assert client.peek_messages() == []
    with pytest.raises(HttpResponseError) as info:
        client.send_message("denied")
    assert info.value.status_code == 403
    assert info.value.error_code == "AuthorizationPermissionMismatch"
    with pytest.raises(HttpResponseError) as info:
        list(client.receive_messages())
    assert info.value.status_code == 403
    assert queue.get_queue_properties().approximate_message_count == 0


def test_service_sas_is_scoped_to_its_queue(localzure: LocalZureThread, queue: QueueClient, service) -> None:  # type: ignore[no-untyped-def]
    other = service.create_queue(queue.queue_name + "-other")
    try:
        sas = generate_queue_sas(ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, permission="raup", expiry=_in(1))
        with pytest.raises(HttpResponseError) as info:
            _queue_with_sas(localzure, other.queue_name, sas).send_message("wrong queue")
        assert info.value.status_code == 403
        assert other.peek_messages() == []
    finally:
        other.delete_queue()


def test_expired_sas_is_403(localzure: LocalZureThread, queue: QueueClient) -> None:
    sas = generate_queue_sas(
        ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, permission="raup", start=_in(-2), expiry=_in(-1)
    )
    with pytest.raises(ClientAuthenticationError) as info:
        _queue_with_sas(localzure, queue.queue_name, sas).send_message("late")
    assert info.value.status_code == 403
    assert info.value.error_code == "AuthenticationFailed"


def test_account_sas_resource_types_and_permissions(localzure: LocalZureThread, queue: QueueClient) -> None:
    everything = generate_account_sas(
        ACCOUNT,
        WELL_KNOWN_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, list=True, add=True, process=True, update=True),
        expiry=_in(1),
    )
    service = QueueServiceClient(account_url=localzure.url("queue"), credential=everything)
    assert queue.queue_name in {q.name for q in service.list_queues(name_starts_with=queue.queue_name)}
    client = service.get_queue_client(queue.queue_name)
    client.send_message("account sas")
    assert client.get_queue_properties().approximate_message_count == 1

    objects_only = generate_account_sas(
        ACCOUNT,
        WELL_KNOWN_KEY,
        ResourceTypes(object=True),
        AccountSasPermissions(read=True, list=True, add=True),
        expiry=_in(1),
    )
    limited = QueueServiceClient(account_url=localzure.url("queue"), credential=objects_only)
    with pytest.raises(HttpResponseError) as info:
        list(limited.list_queues())
    assert info.value.status_code == 403
    assert info.value.error_code == "AuthorizationResourceTypeMismatch"
    limited.get_queue_client(queue.queue_name).send_message("object level is fine")
    with pytest.raises(HttpResponseError) as info:
        limited.get_queue_client(queue.queue_name).delete_queue()
    assert info.value.status_code == 403
    assert queue.get_queue_properties().approximate_message_count == 2


def test_stored_access_policy_grants_and_revokes(localzure: LocalZureThread, queue: QueueClient) -> None:
    queue.set_queue_access_policy({"producers": AccessPolicy(permission="a", start=_in(-1), expiry=_in(1))})
    sas = generate_queue_sas(ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, policy_id="producers")
    client = _queue_with_sas(localzure, queue.queue_name, sas)
    client.send_message("from policy")
    with pytest.raises(HttpResponseError) as info:
        client.peek_messages()
    assert info.value.status_code == 403

    queue.set_queue_access_policy({})
    with pytest.raises(HttpResponseError) as info:
        client.send_message("revoked")
    assert info.value.status_code == 403
    assert [m.content for m in queue.peek_messages(max_messages=32)] == ["from policy"]


def test_expired_stored_policy_is_403(localzure: LocalZureThread, queue: QueueClient) -> None:
    queue.set_queue_access_policy({"old": AccessPolicy(permission="raup", expiry=_in(-1))})
    sas = generate_queue_sas(ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, policy_id="old")
    with pytest.raises(HttpResponseError) as info:
        _queue_with_sas(localzure, queue.queue_name, sas).send_message("x")
    assert info.value.status_code == 403


def test_sas_cannot_read_or_set_the_acl(localzure: LocalZureThread, queue: QueueClient) -> None:
    sas = generate_queue_sas(ACCOUNT, queue.queue_name, WELL_KNOWN_KEY, permission="raup", expiry=_in(1))
    client = _queue_with_sas(localzure, queue.queue_name, sas)
    with pytest.raises(HttpResponseError) as info:
        client.get_queue_access_policy()
    assert info.value.status_code == 403
    with pytest.raises(HttpResponseError) as info:
        client.set_queue_access_policy({"mine": AccessPolicy(permission="raup", expiry=_in(1))})
    assert info.value.status_code == 403
    assert queue.get_queue_access_policy() == {}
