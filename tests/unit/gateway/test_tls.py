"""The local CA: what it makes, that the chain verifies, that it is kept and reused."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from controlplane.tls import (
    AZURE_WILDCARDS,
    CA_FILE,
    CA_KEY_FILE,
    SERVER_FILE,
    SERVER_KEY_FILE,
    AuthorityLoader,
    LocalAuthority,
    name_matches,
    server_names,
)

SUFFIXES = (".queue.core.windows.net", ".queue.localhost", ".blob.localhost", ".table.localhost", ".thing.example")


@pytest.fixture
def authority(tmp_path: Path) -> LocalAuthority:
    return LocalAuthority.load_or_create(tmp_path / "tls", SUFFIXES)


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    value = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(value.get_values_for_type(x509.DNSName)), {str(a) for a in value.get_values_for_type(x509.IPAddress)}


def test_ca_is_a_ten_year_ca(authority: LocalAuthority) -> None:
    ca = authority.ca_certificate
    assert ca.subject == ca.issuer
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3649) < lifetime < datetime.timedelta(days=3651)
    ca.verify_directly_issued_by(ca)


def test_server_certificate_names_every_host(authority: LocalAuthority) -> None:
    cert = authority.server_certificate
    names, addresses = _sans(cert)
    assert {"localhost", "*.localhost", "*.queue.localhost", "*.blob.localhost", "*.table.localhost"} <= names
    assert "*.thing.example" in names  # from the adapters' suffixes, not a fixed list
    assert set(AZURE_WILDCARDS) <= names
    assert addresses == {"127.0.0.1", "::1"}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    cert.verify_directly_issued_by(authority.ca_certificate)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= datetime.timedelta(days=826)


def test_private_keys_are_private(authority: LocalAuthority) -> None:
    directory = authority.directory
    for name in (CA_KEY_FILE, SERVER_KEY_FILE):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0
    assert b"PRIVATE KEY" not in (directory / CA_FILE).read_bytes()
    assert b"PRIVATE KEY" not in (directory / SERVER_FILE).read_bytes()
    # Minted leaves live in memory: no key file is left behind.
    authority.context_for("myapp.blob.core.windows.net")
    assert sorted(p.name for p in directory.iterdir() if p.suffix == ".pem") == sorted(
        [CA_FILE, CA_KEY_FILE, SERVER_FILE, SERVER_KEY_FILE]
    )


def test_reused_across_starts(authority: LocalAuthority, tmp_path: Path) -> None:
    again = LocalAuthority.load_or_create(tmp_path / "tls", SUFFIXES)
    assert again.ca_pem == authority.ca_pem
    assert again.server_certificate == authority.server_certificate


def test_a_new_adapter_suffix_reissues_the_server_certificate_under_the_same_ca(
    authority: LocalAuthority, tmp_path: Path
) -> None:
    again = LocalAuthority.load_or_create(tmp_path / "tls", (*SUFFIXES, ".servicebus.localhost"))
    assert again.ca_pem == authority.ca_pem
    assert again.server_certificate != authority.server_certificate
    assert "*.servicebus.localhost" in _sans(again.server_certificate)[0]
    again.server_certificate.verify_directly_issued_by(authority.ca_certificate)


def test_a_key_that_does_not_match_its_certificate_is_replaced(authority: LocalAuthority, tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    (directory / SERVER_KEY_FILE).write_bytes((directory / CA_KEY_FILE).read_bytes())
    again = LocalAuthority.load_or_create(directory, SUFFIXES)
    assert again.ca_pem == authority.ca_pem
    assert again.server_certificate != authority.server_certificate
    assert stat.S_IMODE((directory / SERVER_KEY_FILE).stat().st_mode) == 0o600


def test_garbage_files_are_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    directory.mkdir()
    (directory / CA_FILE).write_text("not a certificate")
    (directory / CA_KEY_FILE).write_text("not a key")
    authority = LocalAuthority.load_or_create(directory, SUFFIXES)
    assert authority.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes()) == authority.ca_certificate


def test_minted_leaf_names_exactly_its_host_and_is_cached(authority: LocalAuthority) -> None:
    context = authority.context_for("myapp.queue.core.windows.net")
    assert authority.context_for("MyApp.queue.core.windows.net") is context
    assert authority.cached_context_for("myapp.queue.core.windows.net") is context
    assert authority.cached_context_for("other.queue.core.windows.net") is None


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*.queue.localhost", "acct.queue.localhost", True),
        ("*.queue.localhost", "a.b.queue.localhost", False),
        ("*.queue.localhost", "queue.localhost", False),
        ("localhost", "LOCALHOST", True),
        ("*.blob.core.windows.net", "myapp.blob.core.windows.net.", True),
    ],
)
def test_name_matching(pattern: str, host: str, expected: bool) -> None:
    assert name_matches(pattern, host) is expected


def test_server_names_from_suffixes() -> None:
    names = server_names([".vault.localhost", "documents.localhost"])
    assert "*.vault.localhost" in names and "*.documents.localhost" in names
    assert len(names) == len(set(names))


# ---- the chain, verified by the ssl module as a client would ---------------------------------


@pytest.fixture
def tls_server(authority: LocalAuthority) -> Iterator[tuple[int, ssl.SSLContext]]:
    """A blocking TLS server thread answering one handshake per connection with the authority's contexts."""
    context = authority.server_context(mint_for=lambda host: host.endswith(".example.test"))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.sendall(b"ok")
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], context
    stop.set()
    thread.join(5)
    listener.close()


def _handshake(port: int, cafile: Path, server_hostname: str) -> x509.Certificate:
    client = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with client.wrap_socket(raw, server_hostname=server_hostname) as tls:
        assert tls.recv(2) == b"ok"
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.mark.parametrize(
    "hostname", ["localhost", "127.0.0.1", "devstoreaccount1.queue.localhost", "myapp.blob.core.windows.net"]
)
def test_the_served_chain_verifies_against_the_ca(
    authority: LocalAuthority, tls_server: tuple[int, ssl.SSLContext], hostname: str
) -> None:
    port, _ = tls_server
    served = _handshake(port, authority.ca_path, hostname)
    assert served == authority.server_certificate


def test_sni_for_an_uncovered_allowed_name_gets_a_minted_leaf(
    authority: LocalAuthority, tls_server: tuple[int, ssl.SSLContext]
) -> None:
    port, _ = tls_server
    served = _handshake(port, authority.ca_path, "custom.example.test")
    assert _sans(served) == ({"custom.example.test"}, set())
    served.verify_directly_issued_by(authority.ca_certificate)


def test_a_different_ca_is_not_trusted(
    authority: LocalAuthority, tls_server: tuple[int, ssl.SSLContext], tmp_path: Path
) -> None:
    stranger = LocalAuthority.load_or_create(tmp_path / "other", SUFFIXES)
    port, _ = tls_server
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(port, stranger.ca_path, "localhost")


def test_a_name_outside_the_certificate_fails_verification(
    authority: LocalAuthority, tls_server: tuple[int, ssl.SSLContext]
) -> None:
    port, _ = tls_server
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(port, authority.ca_path, "example.com")


def test_issue_returns_pem_for_containers(authority: LocalAuthority) -> None:
    cert_pem, key_pem = authority.issue(["keyvault"], ["127.0.0.1"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert _sans(cert) == ({"keyvault"}, {str(ipaddress.ip_address("127.0.0.1"))})
    assert b"PRIVATE KEY" in key_pem
    cert.verify_directly_issued_by(authority.ca_certificate)


async def test_loader_reports_a_failure_and_tries_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the tls directory should be")
    loader = AuthorityLoader(blocker / "tls", SUFFIXES)
    loader.start()
    with pytest.raises(OSError):
        await loader.get()
    assert "TLS is unavailable" in caplog.text
    assert loader.ready is None
    blocker.unlink()
    blocker.mkdir()
    authority = await loader.get()
    assert loader.ready is authority
    assert (blocker / "tls" / CA_FILE).exists()
