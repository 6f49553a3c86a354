"""Malformed requests get the Azure error, never a 500 (raw HTTP with an account SAS, since
the SDK will not send most of these)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.blob import AccountSasPermissions, ContainerClient, ResourceTypes, generate_account_sas

from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY


@pytest.fixture
def http(localzure: LocalZureThread, container: ContainerClient) -> Iterator[tuple[httpx.Client, str]]:
    sas = generate_account_sas(
        "devstoreaccount1",
        WELL_KNOWN_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True, tag=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    base = f"{localzure.url('blob')}/{container.container_name}"
    with httpx.Client(headers={"x-ms-version": "2025-11-05"}) as client:
        yield client, f"{base}/b?{sas}"


CASES = [
    ("PUT", "", {}, b"x", 400, "MissingRequiredHeader"),
    ("PUT", "", {"x-ms-blob-type": "Nope"}, b"x", 400, "InvalidHeaderValue"),
    ("PUT", "&comp=block&blockid=%%%", {}, b"x", 400, "InvalidBlockId"),
    ("PUT", "&comp=block", {}, b"x", 400, "MissingRequiredQueryParameter"),
    ("PUT", "&comp=blocklist", {}, b"<BlockList><Bad>x</Bad></BlockList>", 400, "InvalidXmlDocument"),
    ("PUT", "&comp=blocklist", {}, b"not xml", 400, "InvalidXmlDocument"),
    ("PUT", "", {"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": "abc"}, b"", 400, "InvalidHeaderValue"),
    ("PUT", "", {"x-ms-blob-type": "PageBlob"}, b"", 400, "MissingRequiredHeader"),
    ("PUT", "&comp=tier", {}, b"", 404, "BlobNotFound"),
    ("GET", "&comp=nonsense", {}, b"", 400, "InvalidUri"),
    ("PATCH", "", {}, b"", 405, "UnsupportedHttpVerb"),
    ("PUT", "&comp=tags", {}, b"<Tags>", 400, "InvalidXmlDocument"),
]


@pytest.mark.parametrize(("method", "query", "headers", "body", "status", "code"), CASES)
def test_bad_input_gets_the_azure_error(
    http: tuple[httpx.Client, str],
    method: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    client, url = http
    response = client.request(method, url + query, headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.headers["x-ms-error-code"] == code


def test_bad_lease_and_list_parameters(http: tuple[httpx.Client, str]) -> None:
    client, url = http
    put = client.put(url, headers={"x-ms-blob-type": "BlockBlob", "x-ms-client-request-id": "mine"}, content=b"x")
    assert put.status_code == 201
    assert put.headers.get_list("x-ms-client-request-id") == ["mine"]
    lease = client.put(url + "&comp=lease", headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "x"})
    assert lease.status_code == 400 and lease.headers["x-ms-error-code"] == "InvalidHeaderValue"
    lease = client.put(url + "&comp=lease", headers={"x-ms-lease-action": "grab"})
    assert lease.status_code == 400
    container_url = url.replace("/b?", "?restype=container&comp=list&maxresults=0&")
    listing = client.get(container_url)
    assert listing.status_code == 400 and listing.headers["x-ms-error-code"] == "InvalidQueryParameterValue"
    ranged = client.get(url, headers={"x-ms-range": "bytes=5-1"})
    assert ranged.status_code == 400
