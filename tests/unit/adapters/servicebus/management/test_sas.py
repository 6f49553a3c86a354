"""SAS tokens made by azure-servicebus's own generators, validated by ours."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from azure.servicebus._base_handler import ServiceBusSharedKeyCredential
from azure.servicebus._pyamqp.utils import generate_sas_token

from adapters.servicebus.management import sas

KEYS = {"RootManageSharedAccessKey": "SAS_KEY_VALUE", "listen-only": "another key"}
NOW = datetime(2024, 5, 1, tzinfo=UTC)
LATER = int(NOW.timestamp()) + 3600


def test_a_token_from_the_sdk_s_credential_is_valid() -> None:
    token = ServiceBusSharedKeyCredential("RootManageSharedAccessKey", "SAS_KEY_VALUE").get_token(
        "https://ns.localhost"
    )
    assert sas.validate(token.token, KEYS) == "https://ns.localhost"


def test_parse_token_reads_every_field() -> None:
    token = generate_sas_token("sb://ns.localhost/orders", "listen-only", "another key", LATER)
    parsed = sas.parse_token(token)
    assert (parsed.audience, parsed.key_name, parsed.expiry) == ("sb://ns.localhost/orders", "listen-only", LATER)
    assert parsed.signed_text == f"sb%3A%2F%2Fns.localhost%2Forders\n{LATER}"


def test_each_key_signs_its_own_tokens() -> None:
    token = generate_sas_token("sb://ns.localhost/orders", "listen-only", "another key", LATER)
    assert sas.validate(token, KEYS, NOW) == "sb://ns.localhost/orders"


def test_key_names_match_case_insensitively() -> None:
    token = generate_sas_token("https://ns.localhost", "rootmanagesharedaccesskey", "SAS_KEY_VALUE", LATER)
    assert sas.validate(token, KEYS, NOW) == "https://ns.localhost"


def test_a_wrong_key_is_an_invalid_signature() -> None:
    token = generate_sas_token("https://ns.localhost", "RootManageSharedAccessKey", "wrong", LATER)
    with pytest.raises(sas.InvalidSignature) as caught:
        sas.validate(token, KEYS, NOW)
    assert caught.value.message == "InvalidSignature: The token has an invalid signature."


def test_a_tampered_audience_is_an_invalid_signature() -> None:
    token = generate_sas_token("sb://ns.localhost/orders", "RootManageSharedAccessKey", "SAS_KEY_VALUE", LATER)
    with pytest.raises(sas.InvalidSignature):
        sas.validate(token.replace("orders", "payments"), KEYS, NOW)


def test_an_unknown_key_name() -> None:
    token = generate_sas_token("https://ns.localhost", "nobody", "SAS_KEY_VALUE", LATER)
    with pytest.raises(sas.UnknownKeyName):
        sas.validate(token, KEYS, NOW)


def test_an_expired_token_says_when_it_expired() -> None:
    expired = int(time.time()) - 10
    token = generate_sas_token("https://ns.localhost", "RootManageSharedAccessKey", "SAS_KEY_VALUE", expired)
    with pytest.raises(sas.TokenExpired) as caught:
        sas.validate(token, KEYS)
    stamp = datetime.fromtimestamp(expired, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert caught.value.message == f"ExpiredToken: The token is expired. Expiration time: '{stamp}Z'"


def test_a_token_expires_at_its_expiry_second() -> None:
    token = generate_sas_token("https://ns.localhost", "RootManageSharedAccessKey", "SAS_KEY_VALUE", LATER)
    assert sas.validate(token, KEYS, datetime.fromtimestamp(LATER - 1, UTC))
    with pytest.raises(sas.TokenExpired):
        sas.validate(token, KEYS, datetime.fromtimestamp(LATER, UTC))


def test_the_signature_covers_sr_as_sent_whatever_its_encoding() -> None:
    # Older .NET clients escape with lower-case hex and order the fields differently.
    sr = "sb%3a%2f%2fns.localhost%2forders"
    signature = hmac.new(b"SAS_KEY_VALUE", f"{sr}\n{LATER}".encode(), hashlib.sha256).digest()
    sig = base64.b64encode(signature).decode().replace("+", "%2b").replace("/", "%2f").replace("=", "%3d")
    token = f"SharedAccessSignature sig={sig}&se={LATER}&skn=RootManageSharedAccessKey&sr={sr}"
    assert sas.validate(token, KEYS, NOW) == "sb://ns.localhost/orders"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "Bearer abc",
        "SharedAccessSignature",
        "SharedAccessSignature sr=a&sig=b&se=1",
        "SharedAccessSignature sr=a&sig=YQ%3D%3D&se=soon&skn=k",
        "SharedAccessSignature sr=a&sig=not*base64&se=1&skn=k",
        "SharedAccessSignature sr=a&sr=b&sig=YQ%3D%3D&se=1&skn=k",
        "SharedAccessSignature sr=&sig=YQ%3D%3D&se=1&skn=k",
        "SharedAccessSignature sr=a&sig=YQ%3D%3D&se=1&skn=k&junk",
    ],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(sas.MalformedToken):
        sas.validate(token, KEYS, NOW)


@pytest.mark.parametrize(
    ("audience", "host", "path", "covered"),
    [
        ("https://ns.localhost", "ns.localhost", "orders", True),
        ("https://ns.localhost/", "ns.localhost:5300", "events/Subscriptions/all", True),
        ("sb://NS.localhost/Orders", "ns.localhost", "orders", True),
        ("sb://ns.localhost/orders", "ns.localhost", "orders/$management", True),
        ("sb://ns.localhost/orders", "ns.localhost", "orders-archive", False),
        ("sb://ns.localhost/orders", "ns.localhost", "payments", False),
        ("sb://other.localhost", "ns.localhost", "orders", False),
        ("ns.localhost/orders", "ns.localhost", "orders", True),
    ],
)
def test_audience_covers(audience: str, host: str, path: str, covered: bool) -> None:
    assert sas.audience_covers(audience, host, path) is covered
