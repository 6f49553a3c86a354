"""Requests signed by the real Azure SDKs, captured before they leave the process."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.pipeline.transport import HttpTransport

from controlplane.gateway.auth.request import StorageRequest

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_CONNECTION_STRING = "UseDevelopmentStorage=true"


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


class CapturingTransport(HttpTransport):
    """Stops the pipeline at the wire: the request it raises is exactly what would be sent."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        raise _Captured(request)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __exit__(self, *args: Any) -> None:
        pass


def capture(make_client: Callable[[HttpTransport], Any], call: Callable[[Any], Any]) -> Any:
    """The HTTP request an SDK client sends for ``call(client)``."""
    client = make_client(CapturingTransport())
    with pytest.raises(_Captured) as caught:
        call(client)
    return caught.value.request


def to_storage_request(http_request: Any, **overrides: Any) -> StorageRequest:
    """What the gateway would build for an SDK request (the account from its URL)."""
    return StorageRequest.from_url(http_request.method, http_request.url, http_request.headers, **overrides)


@pytest.fixture
def dev_keys() -> dict[str, bytes]:
    return {ACCOUNT: base64.b64decode(ACCOUNT_KEY)}


@pytest.fixture
def capture_request() -> Callable[[Callable[[HttpTransport], Any], Callable[[Any], Any]], Any]:
    """``capture_request(make_client, call)``: the SDK's own HttpRequest for a call."""
    return capture


@pytest.fixture
def sdk_request() -> Callable[..., StorageRequest]:
    """``sdk_request(make_client, call, **overrides)``: the StorageRequest for an SDK call."""

    def build(make_client: Callable[[HttpTransport], Any], call: Callable[[Any], Any], **overrides: Any):
        return to_storage_request(capture(make_client, call), **overrides)

    return build
