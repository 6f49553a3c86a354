"""Shared Key verification against requests signed by the real storage and table SDKs."""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, UpdateMode
from azure.data.tables._authentication import SharedKeyCredentialPolicy as TablePolicy
from azure.storage.blob import BlobClient, ContainerClient
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy as BlobPolicy
from azure.storage.queue import QueueClient
from azure.storage.queue._shared.authentication import SharedKeyCredentialPolicy as QueuePolicy
from azure.storage.queue._shared.authentication import compare as sdk_header_compare

from controlplane.gateway.auth.collation import collated, compare
from controlplane.gateway.auth.request import StorageRequest, lower_case_headers
from controlplane.gateway.auth.sharedkey import (
    SHARED_KEY,
    SHARED_KEY_LITE,
    parse_authorization,
    sign,
    strings_to_sign,
    verify_shared_key,
)
from controlplane.gateway.errors import AuthenticationFailed

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
KEY = base64.b64decode(ACCOUNT_KEY)
OTHER_KEY = base64.b64encode(b"another key entirely, 32 bytes!!").decode()
CS = "UseDevelopmentStorage=true"
QUEUE_URL = f"http://127.0.0.1:10001/{ACCOUNT}/myqueue"
HOSTNAME_ENDPOINT = f"http://{ACCOUNT}.queue.localhost:8080"
NAMED_KEY = {"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}


def verify(request: StorageRequest, service: str, key: bytes = KEY) -> None:
    credential = parse_authorization(request.header("authorization"))
    verify_shared_key(request, service, credential, key)


def signed(policy: Any, method: str, url: str, headers: dict[str, str]) -> StorageRequest:
    """Sign a hand-made request with an SDK policy (for what no client call produces)."""
    request = HttpRequest(method, url, headers={"x-ms-date": formatdate(usegmt=True), **headers})
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    return StorageRequest.from_url(method, url, request.headers)


def replace_headers(request: StorageRequest, **changes: str) -> StorageRequest:
    headers = dict(request.headers)
    headers.update({k.replace("_", "-"): v for k, v in changes.items()})
    return dataclasses.replace(request, headers=headers)


def queue(transport: Any) -> QueueClient:
    return QueueClient.from_connection_string(CS, "myqueue", transport=transport)


def blob(name: str) -> Callable[[Any], BlobClient]:
    return lambda transport: BlobClient.from_connection_string(CS, "ctr", name, transport=transport)


def container(transport: Any) -> ContainerClient:
    return ContainerClient.from_connection_string(CS, "ctr", transport=transport)


def table(transport: Any) -> TableClient:
    return TableClient.from_connection_string(CS, "MyTable", transport=transport)


ENTITY = {"PartitionKey": "a", "RowKey": "b"}
SDK_CALLS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "send_message": ("queue", queue, lambda c: c.send_message("hi")),
    "peek_messages": ("queue", queue, lambda c: c.peek_messages(5)),
    "create_queue": ("queue", queue, lambda c: c.create_queue(metadata={"a_b": "1", "a-c": "2", "a0": "3"})),
    "upload_blob": (
        "blob",
        blob("dir/my file+x (1).txt"),
        lambda c: c.upload_blob(b"abc", metadata={"k": "v"}),
    ),
    "download_range": ("blob", blob("a.txt"), lambda c: c.download_blob(offset=3, length=10)),
    "delete_blob": ("blob", blob("a.txt"), lambda c: c.delete_blob()),
    "list_blobs": ("blob", container, lambda c: next(iter(c.list_blobs(name_starts_with="dir/x y")))),
    "create_entity": ("table", table, lambda c: c.create_entity(ENTITY)),
    "get_entity": ("table", table, lambda c: c.get_entity("a", "it's")),
    "merge_entity": ("table", table, lambda c: c.update_entity(ENTITY, mode=UpdateMode.MERGE)),
    "table_acl": ("table", table, lambda c: c.get_table_access_policy()),
    "query_entities": ("table", table, lambda c: next(iter(c.query_entities("PartitionKey eq 'a b'")))),
}
CALL_IDS = list(SDK_CALLS)


def sdk_call(sdk_request: Callable[..., StorageRequest], name: str) -> tuple[str, StorageRequest]:
    service, make_client, call = SDK_CALLS[name]
    return service, sdk_request(make_client, call)


@pytest.mark.parametrize("name", CALL_IDS)
def test_sdk_signed_path_style_requests_verify(sdk_request, name) -> None:
    service, request = sdk_call(sdk_request, name)
    assert request.path.startswith(f"/{ACCOUNT}/")  # the SDK signs /devstoreaccount1/devstoreaccount1/...
    verify(request, service)


@pytest.mark.parametrize("name", CALL_IDS)
def test_tampered_signature_is_rejected(sdk_request, name) -> None:
    service, request = sdk_call(sdk_request, name)
    scheme_account, _, sig = request.header("authorization").rpartition(":")
    forged = sig[:-2] + ("A=" if sig[-2] != "A" else "B=")
    with pytest.raises(AuthenticationFailed) as error:
        verify(replace_headers(request, authorization=f"{scheme_account}:{forged}"), service)
    assert error.value.status == 403
    assert "string to sign" in error.value.details["AuthenticationErrorDetail"]


@pytest.mark.parametrize("name", CALL_IDS)
def test_wrong_key_is_rejected(sdk_request, name) -> None:
    service, request = sdk_call(sdk_request, name)
    with pytest.raises(AuthenticationFailed):
        verify(request, service, key=base64.b64decode(OTHER_KEY))


def test_account_in_header_must_be_the_addressed_account(sdk_request) -> None:
    _, request = sdk_call(sdk_request, "send_message")
    signature = request.header("authorization").rpartition(":")[2]
    # A valid signature for the addressed account, claimed in the name of another one.
    with pytest.raises(AuthenticationFailed) as error:
        verify(replace_headers(request, authorization=f"SharedKey otheraccount:{signature}"), "queue")
    assert "otheraccount" in error.value.details["AuthenticationErrorDetail"]
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(request, account="otheraccount"), "queue")


def test_signed_headers_and_query_are_covered(sdk_request) -> None:
    _, upload = sdk_call(sdk_request, "upload_blob")
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(upload, x_ms_meta_k="changed"), "blob")
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(upload, content_length="4"), "blob")
    _, listing = sdk_call(sdk_request, "list_blobs")
    query = [(k, "other" if k == "prefix" else v) for k, v in listing.query]
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(listing, query=query), "blob")


def test_table_signs_only_comp_from_the_query(sdk_request) -> None:
    _, request = sdk_call(sdk_request, "query_entities")
    other_filter = [(k, "PartitionKey eq 'z'" if k == "$filter" else v) for k, v in request.query]
    verify(dataclasses.replace(request, query=other_filter), "table")
    _, acl = sdk_call(sdk_request, "table_acl")
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(acl, query=[("comp", "properties")]), "table")


def test_hostname_style_request_verifies(sdk_request) -> None:
    request = sdk_request(
        lambda t: QueueClient(HOSTNAME_ENDPOINT, "myqueue", credential=NAMED_KEY, transport=t),
        lambda c: c.send_message("hi"),
    )
    assert request.path == "/myqueue/messages"
    verify(request, "queue")


def test_path_style_path_signed_without_the_account_segment(sdk_request) -> None:
    """A request signed as hostname-style (``/acct/q``) but seen path-style (``/acct/acct/q`` is not)."""
    hostname_style = sdk_request(
        lambda t: QueueClient(HOSTNAME_ENDPOINT, "myqueue", credential=NAMED_KEY, transport=t),
        lambda c: c.send_message("hi"),
    )
    verify(dataclasses.replace(hostname_style, path=f"/{ACCOUNT}/myqueue/messages"), "queue")
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(hostname_style, path=f"/{ACCOUNT}/otherqueue/messages"), "queue")


def test_path_signed_decoded_is_accepted_for_an_encoded_wire_path() -> None:
    # aiohttp's yarl re-quotes paths: the SDK then signs "'" where the wire carries %27.
    request = signed(BlobPolicy(ACCOUNT, ACCOUNT_KEY), "GET", f"http://127.0.0.1:10000/{ACCOUNT}/ctr/it's", {})
    verify(dataclasses.replace(request, path=f"/{ACCOUNT}/ctr/it%27s"), "blob")
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(request, path=f"/{ACCOUNT}/ctr/it%27z"), "blob")


def test_path_signed_fully_decoded_is_accepted() -> None:
    # Some clients sign the decoded path ("my file") while the wire carries "my%20file".
    request = signed(BlobPolicy(ACCOUNT, ACCOUNT_KEY), "GET", f"http://127.0.0.1:10000/{ACCOUNT}/ctr/my file", {})
    verify(dataclasses.replace(request, path=f"/{ACCOUNT}/ctr/my%20file"), "blob")


def test_table_date_is_x_ms_date_or_date() -> None:
    policy = TablePolicy(AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY))
    url = f"http://127.0.0.1:10002/{ACCOUNT}/Tables"
    request = signed(policy, "GET", url, {"x-ms-version": "2019-02-02"})
    verify(request, "table")
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(request, x_ms_date="Mon, 01 Jan 2001 00:00:00 GMT"), "table")
    # Signed over x-ms-date; a Date header sent alongside does not get in the way.
    verify(replace_headers(request, date="Mon, 01 Jan 2001 00:00:00 GMT"), "table")


class KeepZeroLengthPolicy(QueuePolicy):
    """Signs as clients of versions before 2015-02-21 did: a Content-Length of 0 is kept."""

    @staticmethod
    def _get_headers(request: Any, headers_to_sign: list[str]) -> str:
        headers = {name.lower(): value for name, value in request.http_request.headers.items() if value}
        return "\n".join(headers.get(x, "") for x in headers_to_sign) + "\n"


def test_old_version_signs_zero_content_length() -> None:
    headers = {"x-ms-version": "2014-02-14", "Content-Length": "0"}
    verify(signed(KeepZeroLengthPolicy(ACCOUNT, ACCOUNT_KEY), "DELETE", QUEUE_URL, headers), "queue")
    with pytest.raises(AuthenticationFailed):
        verify(signed(QueuePolicy(ACCOUNT, ACCOUNT_KEY), "DELETE", QUEUE_URL, headers), "queue")


def test_current_version_signs_zero_content_length_as_empty() -> None:
    headers = {"x-ms-version": "2015-02-21", "Content-Length": "0"}
    verify(signed(QueuePolicy(ACCOUNT, ACCOUNT_KEY), "DELETE", QUEUE_URL, headers), "queue")
    with pytest.raises(AuthenticationFailed):
        verify(signed(KeepZeroLengthPolicy(ACCOUNT, ACCOUNT_KEY), "DELETE", QUEUE_URL, headers), "queue")


def test_versions_before_2009_09_19_sign_only_comp_in_the_resource() -> None:
    # Microsoft's documented pre-2009-09-19 layout; no installed SDK signs it any more.
    date = formatdate(usegmt=True)
    string_to_sign = (
        "GET\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:2009-07-17\n/{ACCOUNT}/{ACCOUNT}/myqueue?comp=metadata"
    )
    headers = {
        "x-ms-date": date,
        "x-ms-version": "2009-07-17",
        "authorization": f"{SHARED_KEY} {ACCOUNT}:{sign(KEY, string_to_sign)}",
    }
    request = StorageRequest.from_url("GET", QUEUE_URL + "?comp=metadata&timeout=5", headers)
    verify(request, "queue")
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(request, x_ms_version="2009-09-19"), "queue")


def test_far_future_version_uses_the_newest_layout() -> None:
    headers = {"x-ms-version": "2099-12-31", "Content-Length": "0"}
    verify(signed(QueuePolicy(ACCOUNT, ACCOUNT_KEY), "DELETE", QUEUE_URL, headers), "queue")
    table_policy = TablePolicy(AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY))
    table_url = f"http://127.0.0.1:10002/{ACCOUNT}/Tables"
    verify(signed(table_policy, "GET", table_url, {"x-ms-version": "2099-12-31"}), "table")


class OrdinalHeaderPolicy(QueuePolicy):
    """Sorts x-ms-* headers ordinally, as the specification (and some SDKs) do."""

    @staticmethod
    def _get_canonicalized_headers(request: Any) -> str:
        pairs = sorted((n.lower(), v) for n, v in request.http_request.headers.items() if n.lower().startswith("x-ms-"))
        return "".join(f"{n}:{v}\n" for n, v in pairs)


@pytest.mark.parametrize("policy_class", [QueuePolicy, OrdinalHeaderPolicy])
def test_both_header_orders_are_accepted(policy_class) -> None:
    # '_' sorts before '0' in the service's collation and after it ordinally.
    headers = {"x-ms-meta-a_b": "1", "x-ms-meta-a0": "2", "x-ms-version": "2026-10-06"}
    request = signed(policy_class(ACCOUNT, ACCOUNT_KEY), "PUT", QUEUE_URL + "?comp=metadata", headers)
    verify(request, "queue")
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(request, **{"x-ms-meta-a0": "3"}), "queue")


def test_collation_matches_the_sdk() -> None:
    rng = random.Random(7)
    alphabet = "abxyz09-_.'~"
    for _ in range(20000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        assert compare(a, b) == sdk_header_compare(a, b), (a, b)
    assert collated(["x-ms-meta-a0", "x-ms-meta-a_b"]) == ["x-ms-meta-a_b", "x-ms-meta-a0"]


def _lite(string_to_sign: str) -> str:
    return sign(KEY, string_to_sign)


def test_shared_key_lite_blob_queue() -> None:
    # No Python SDK signs Shared Key Lite: the string is built from Microsoft's documented format.
    date = formatdate(usegmt=True)
    headers = {
        "x-ms-date": date,
        "x-ms-version": "2026-10-06",
        "x-ms-meta-k": "v",
        "content-type": "text/plain",
    }
    string_to_sign = (
        f"PUT\n\ntext/plain\n\nx-ms-date:{date}\nx-ms-meta-k:v\nx-ms-version:2026-10-06\n"
        f"/{ACCOUNT}/{ACCOUNT}/myqueue?comp=metadata"
    )
    headers["authorization"] = f"{SHARED_KEY_LITE} {ACCOUNT}:{_lite(string_to_sign)}"
    request = StorageRequest.from_url("PUT", QUEUE_URL + "?comp=metadata&timeout=30", headers)
    verify(request, "queue")
    assert strings_to_sign(request, "queue", SHARED_KEY_LITE)[0] == string_to_sign
    with pytest.raises(AuthenticationFailed):
        verify(replace_headers(request, x_ms_meta_k="w"), "queue")


def test_shared_key_lite_table() -> None:
    date = formatdate(usegmt=True)
    string_to_sign = f"{date}\n/{ACCOUNT}/{ACCOUNT}/mytable"
    headers = {"x-ms-date": date, "authorization": f"{SHARED_KEY_LITE} {ACCOUNT}:{_lite(string_to_sign)}"}
    request = StorageRequest.from_url("GET", f"http://127.0.0.1:10002/{ACCOUNT}/mytable", headers)
    verify(request, "table")
    with pytest.raises(AuthenticationFailed):
        verify(dataclasses.replace(request, method="DELETE", path=f"/{ACCOUNT}/othertable"), "table")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer eyJ0eXAi",
        "SharedKey",
        "SharedKey devstoreaccount1",
        "SharedKey :sig",
        "Basic dXNlcjpwYXNz",
        "",
    ],
)
def test_unusable_authorization_headers_fail_authentication(value) -> None:
    with pytest.raises(AuthenticationFailed):
        parse_authorization(value)


def test_parse_authorization() -> None:
    credential = parse_authorization("SharedKey devstoreaccount1:abc+/=")
    assert (credential.scheme, credential.account, credential.signature) == (SHARED_KEY, ACCOUNT, "abc+/=")


def test_repeated_headers_are_joined() -> None:
    assert lower_case_headers([("X-Ms-Meta-A", "1"), ("x-ms-meta-a", "2")]) == {"x-ms-meta-a": "1,2"}
