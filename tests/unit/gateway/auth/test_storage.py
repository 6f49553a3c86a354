"""The storage entry point: which scheme authorizes a request, end to end with SDK clients."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.data.tables import TableClient, generate_table_sas
from azure.storage.blob import BlobClient
from azure.storage.queue import QueueClient, generate_account_sas, generate_queue_sas

from controlplane.adapter import Operation
from controlplane.gateway.auth.request import StorageRequest
from controlplane.gateway.auth.sas import TableSasRange
from controlplane.gateway.auth.sharedkey import sign
from controlplane.gateway.auth.storage import (
    ACCOUNT_SAS,
    ANONYMOUS,
    SERVICE_SAS,
    SHAREDKEY,
    SHAREDKEYLITE,
    authenticate_storage,
)
from controlplane.gateway.errors import AuthenticationFailed, AuthorizationPermissionMismatch, AzureError

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CS = "UseDevelopmentStorage=true"
QUEUE_ENDPOINT = f"http://127.0.0.1:10001/{ACCOUNT}"
TABLE_ENDPOINT = f"http://127.0.0.1:10002/{ACCOUNT}"

SEND = Operation("PutMessage", sas_permission="a", resource_type="o", resource="myqueue")
GET_BLOB = Operation("GetBlob", sas_permission="r", resource_type="o", resource="public/a.txt", anonymous=True)
QUERY_ENTITIES = Operation("QueryEntities", sas_permission="r", resource_type="o", resource="MyTable")


def no_policies(identifier: str) -> None:
    return None


def send_message(transport):
    return QueueClient.from_connection_string(CS, "myqueue", transport=transport)


def test_shared_key(sdk_request, dev_keys) -> None:
    request = sdk_request(send_message, lambda c: c.send_message("hi"))
    result = authenticate_storage(request, "queue", SEND, dev_keys, no_policies)
    assert (result.scheme, result.account, result.sas) == (SHAREDKEY, ACCOUNT, None)


def test_shared_key_lite(dev_keys) -> None:
    date = formatdate(usegmt=True)
    signature = sign(dev_keys[ACCOUNT], f"{date}\n/{ACCOUNT}/{ACCOUNT}/MyTable()")
    headers = {"x-ms-date": date, "Authorization": f"SharedKeyLite {ACCOUNT}:{signature}"}
    request = StorageRequest.from_url("GET", f"{TABLE_ENDPOINT}/MyTable()", headers)
    assert authenticate_storage(request, "table", QUERY_ENTITIES, dev_keys, no_policies).scheme == SHAREDKEYLITE


def test_unknown_account(sdk_request, dev_keys) -> None:
    request = sdk_request(send_message, lambda c: c.send_message("hi"))
    keys_with_the_same_key = {"nosuchaccount": dev_keys[ACCOUNT]}
    with pytest.raises(AzureError) as error:
        authenticate_storage(request, "queue", SEND, keys_with_the_same_key, no_policies)
    assert (error.value.status, error.value.code) == (403, "AuthenticationFailed")
    assert error.value.message == "The account being accessed does not exist."
    anonymous = StorageRequest.from_url("GET", "http://127.0.0.1:10000/nosuchaccount/public/a.txt", {})
    with pytest.raises(AzureError):
        authenticate_storage(anonymous, "blob", GET_BLOB, dev_keys, no_policies)
    with pytest.raises(AzureError) as error:
        authenticate_storage(
            dataclasses.replace(request, account="nosuchaccount"), "queue", SEND, dev_keys, no_policies
        )
    assert (error.value.status, error.value.code) == (403, "AuthenticationFailed")


def test_wrong_signature_fails_even_where_anonymous_is_allowed(sdk_request, dev_keys) -> None:
    request = sdk_request(
        lambda t: BlobClient.from_connection_string(CS, "public", "a.txt", transport=t),
        lambda c: c.download_blob(),
    )
    wrong_keys = {ACCOUNT: b"not the key"}
    with pytest.raises(AuthenticationFailed):
        authenticate_storage(request, "blob", GET_BLOB, wrong_keys, no_policies)
    assert authenticate_storage(request, "blob", GET_BLOB, dev_keys, no_policies).scheme == SHAREDKEY


def test_no_credentials(dev_keys) -> None:
    request = StorageRequest.from_url("GET", f"http://127.0.0.1:10000/{ACCOUNT}/public/a.txt", {})
    assert authenticate_storage(request, "blob", GET_BLOB, dev_keys, no_policies).scheme == ANONYMOUS
    with pytest.raises(AuthenticationFailed) as error:
        authenticate_storage(request, "blob", dataclasses.replace(GET_BLOB, anonymous=False), dev_keys, no_policies)
    assert (error.value.status, error.value.code) == (403, "AuthenticationFailed")


def test_bearer_token_is_refused(dev_keys) -> None:
    headers = {"Authorization": "Bearer eyJ0eXAiOiJKV1QifQ.e30.sig"}
    request = StorageRequest.from_url("POST", f"{QUEUE_ENDPOINT}/myqueue/messages", headers)
    with pytest.raises(AuthenticationFailed):
        authenticate_storage(request, "queue", SEND, dev_keys, no_policies)


def test_service_sas_through_an_sdk_client(sdk_request, dev_keys) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    token = generate_queue_sas(ACCOUNT, "myqueue", ACCOUNT_KEY, permission="a", expiry=expiry)
    request = sdk_request(
        lambda t: QueueClient(QUEUE_ENDPOINT, "myqueue", credential=token, transport=t),
        lambda c: c.send_message("hi"),
    )
    assert "authorization" not in request.headers
    result = authenticate_storage(request, "queue", SEND, dev_keys, no_policies)  # now defaults to the clock
    assert result.scheme == SERVICE_SAS and result.sas is not None and result.sas.permissions == "a"
    with pytest.raises(AuthorizationPermissionMismatch):
        authenticate_storage(request, "queue", dataclasses.replace(SEND, sas_permission="p"), dev_keys, no_policies)
    with pytest.raises(AuthenticationFailed):
        authenticate_storage(request, "queue", SEND, dev_keys, no_policies, now=expiry + timedelta(seconds=1))


def test_account_sas_through_an_sdk_client(sdk_request, dev_keys) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    token = generate_account_sas(ACCOUNT, ACCOUNT_KEY, "o", "a", expiry)
    request = sdk_request(
        lambda t: QueueClient(QUEUE_ENDPOINT, "myqueue", credential=token, transport=t),
        lambda c: c.send_message("hi"),
    )
    result = authenticate_storage(request, "queue", SEND, dev_keys, no_policies)
    assert result.scheme == ACCOUNT_SAS and result.table_range is None


def test_table_sas_range_reaches_the_result(sdk_request, dev_keys) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    credential = AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY)
    token = generate_table_sas(credential, "MyTable", permission="r", expiry=expiry, start_pk="a", end_pk="m")
    request = sdk_request(
        lambda t: TableClient(TABLE_ENDPOINT, "MyTable", credential=AzureSasCredential(token), transport=t),
        lambda c: next(iter(c.query_entities("RowKey eq 'x'"))),
    )
    result = authenticate_storage(request, "table", QUERY_ENTITIES, dev_keys, no_policies)
    assert result.scheme == SERVICE_SAS
    assert result.table_range == TableSasRange(start_pk="a", end_pk="m")
    assert result.table_range.contains("b", "x") and not result.table_range.contains("n", "x")


def test_stored_policy_lookup_is_used(dev_keys) -> None:
    token = generate_queue_sas(ACCOUNT, "myqueue", ACCOUNT_KEY, policy_id="writers")
    request = StorageRequest.from_url("POST", f"{QUEUE_ENDPOINT}/myqueue/messages?{token}", {})
    asked: list[str] = []

    def lookup(identifier: str) -> dict[str, str] | None:
        asked.append(identifier)
        return {"expiry": "2099-01-01T00:00:00Z", "permission": "a"} if identifier == "writers" else None

    assert authenticate_storage(request, "queue", SEND, dev_keys, lookup).scheme == SERVICE_SAS
    assert asked == ["writers"]
    with pytest.raises(AuthenticationFailed):
        authenticate_storage(request, "queue", SEND, dev_keys, no_policies)


def test_authorization_header_wins_over_a_sas(sdk_request, dev_keys) -> None:
    request = sdk_request(send_message, lambda c: c.send_message("hi"))
    token = generate_queue_sas(ACCOUNT, "myqueue", ACCOUNT_KEY, permission="a", expiry=datetime(2099, 1, 1))
    with_sas = StorageRequest.from_url(
        request.method, f"{QUEUE_ENDPOINT}/myqueue/messages?{token}", dict(request.headers)
    )
    # The header was signed without the SAS parameters, so Shared Key (not the SAS) is what fails.
    with pytest.raises(AuthenticationFailed) as error:
        authenticate_storage(with_sas, "queue", SEND, dev_keys, no_policies)
    assert "MAC signature" in error.value.details["AuthenticationErrorDetail"]


def test_keys_are_decoded_bytes(dev_keys) -> None:
    assert dev_keys[ACCOUNT] == base64.b64decode(ACCOUNT_KEY)
