"""Accounts created on first use: the key mapping the authenticate step sees, and its settings."""

from __future__ import annotations

import base64

import pytest

from controlplane.config import WELL_KNOWN_KEY, ConfigError, load_settings
from controlplane.gateway.authenticate import AutoCreatingKeys

CONFIGURED = {"devstoreaccount1": b"configured"}


def test_unknown_well_formed_accounts_get_the_auto_create_key() -> None:
    keys = AutoCreatingKeys(CONFIGURED, b"auto")
    assert keys.get("devstoreaccount1") == b"configured"
    assert "myapp" not in list(keys)
    assert keys.get("myapp") == b"auto"
    assert list(keys) == ["devstoreaccount1", "myapp"]  # created: now it is listed
    assert len(keys) == 2


@pytest.mark.parametrize("name", ["ab", "UPPER", "with-dash", "a" * 25, ""])
def test_malformed_account_names_are_not_created(name: str) -> None:
    keys = AutoCreatingKeys(CONFIGURED, b"auto")
    assert keys.get(name) is None
    assert name not in keys
    assert len(keys) == 1


def test_off_by_default() -> None:
    settings = load_settings(env={})
    assert settings.auto_create_accounts is False
    assert settings.account_keys().get("myapp") is None


def test_on_with_the_well_known_key_by_default() -> None:
    settings = load_settings(cli={"auto_create_accounts": True}, env={})
    assert settings.account_keys().get("myapp") == base64.b64decode(WELL_KNOWN_KEY)


def test_accounts_auto_create_spelling_and_a_custom_key() -> None:
    key = base64.b64encode(b"my own key").decode()
    env = {"LOCALZURE_ACCOUNTS__AUTO_CREATE": "true", "LOCALZURE_AUTO_CREATE_KEY": key}
    settings = load_settings(env=env)
    assert settings.auto_create_accounts is True
    assert "auto_create" not in settings.accounts
    assert settings.account_keys().get("someapp") == b"my own key"
    assert settings.account_keys().get("devstoreaccount1") == base64.b64decode(WELL_KNOWN_KEY)


def test_auto_create_key_must_be_base64() -> None:
    with pytest.raises(ConfigError, match="auto_create_key"):
        load_settings(cli={"auto_create_key": "not base64!"}, env={})


def test_tls_settings() -> None:
    settings = load_settings(env={"LOCALZURE_TLS__EDGE_HTTPS_PORT": "8443"})
    assert settings.tls.edge_https_port == 8443
    assert settings.tls_dir() == settings.data_dir / "tls"
    with pytest.raises(ConfigError, match="tls.nonsense"):
        load_settings(cli={"tls": {"nonsense": 1}}, env={})
