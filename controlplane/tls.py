"""The local certificate authority: one CA per data dir, the certificates it signs, SSL contexts.

``<data_dir>/tls/`` holds ``ca.pem`` / ``ca-key.pem`` (10 years) and ``server.pem`` /
``server-key.pem`` (localhost, 127.0.0.1, ::1, ``*.localhost``, every adapter's hostname
suffix as a wildcard and the Azure wildcard hostnames). They are made on first start and
reused after, so a CA trusted once stays trusted. Leaf certificates for single hostnames
(the hosts a proxy client CONNECTs to) are minted on demand and kept in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import getpass
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"

CA_VALIDITY = datetime.timedelta(days=3650)
# macOS and iOS refuse locally trusted server certificates valid for longer than 825 days.
LEAF_VALIDITY = datetime.timedelta(days=825)
RENEW_BEFORE = datetime.timedelta(days=30)
# Clocks in containers and VMs drift; a certificate valid "from now" fails there for a while.
BACKDATE = datetime.timedelta(hours=1)

AZURE_WILDCARDS: tuple[str, ...] = (
    "*.blob.core.windows.net",
    "*.queue.core.windows.net",
    "*.table.core.windows.net",
    "*.servicebus.windows.net",
    "*.vault.azure.net",
    "*.documents.azure.com",
)
LOOPBACK_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")
_LEAF_CACHE_SIZE = 1024


def server_names(suffixes: Iterable[str]) -> list[str]:
    """The DNS names of the server certificate for adapters declaring these hostname suffixes."""
    names = ["localhost", "*.localhost"]
    names += [f"*{suffix}" if suffix.startswith(".") else f"*.{suffix}" for suffix in suffixes]
    names += AZURE_WILDCARDS
    return list(dict.fromkeys(name.lower() for name in names))


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching: a wildcard stands for exactly one whole leftmost label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    label, dot, rest = host.partition(".")
    return bool(label) and bool(dot) and rest == pattern[2:]


@dataclass(frozen=True)
class _Pair:
    cert: x509.Certificate
    key: EllipticCurvePrivateKey


class LocalAuthority:
    """The CA, the server certificate, and leaf certificates minted on demand."""

    def __init__(self, directory: Path, ca: _Pair, server: _Pair, names: list[str]) -> None:
        self.directory = directory
        self._ca = ca
        self._server = server
        self.names = names
        self._server_context: ssl.SSLContext | None = None
        self._leaves: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()

    # ---- files -------------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, directory: Path, suffixes: Iterable[str] = ()) -> LocalAuthority:
        """Reuse the CA and server certificate in ``directory``; make what is missing or stale."""
        directory = Path(directory).expanduser()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        names = server_names(suffixes)
        with _directory_lock(directory):
            ca = _load_pair(directory / CA_FILE, directory / CA_KEY_FILE)
            if ca is None or not _is_current(ca.cert) or not _is_ca(ca.cert):
                if ca is not None:
                    log.warning("the local CA in %s has expired or is unusable: making a new one", directory)
                ca = _new_ca()
                _write_pair(directory / CA_FILE, directory / CA_KEY_FILE, ca)
                log.info("made a local CA in %s (trust %s to use HTTPS and the proxy)", directory, CA_FILE)
            server = _load_pair(directory / SERVER_FILE, directory / SERVER_KEY_FILE)
            if server is None or not _server_is_usable(server.cert, ca, names):
                server = _issue(ca, names, LOOPBACK_ADDRESSES)
                _write_pair(directory / SERVER_FILE, directory / SERVER_KEY_FILE, server)
                log.info("issued the server certificate in %s", directory)
        return cls(directory, ca, server, names)

    @property
    def ca_path(self) -> Path:
        return self.directory / CA_FILE

    @property
    def server_cert_path(self) -> Path:
        return self.directory / SERVER_FILE

    @property
    def server_key_path(self) -> Path:
        return self.directory / SERVER_KEY_FILE

    @property
    def ca_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self._ca.cert.public_bytes(Encoding.PEM)

    @property
    def ca_certificate(self) -> x509.Certificate:
        return self._ca.cert

    @property
    def server_certificate(self) -> x509.Certificate:
        return self._server.cert

    def covers(self, host: str) -> bool:
        """True when the server certificate is valid for ``host``."""
        host = _strip_brackets(host)
        if _is_ip(host):
            return host in LOOPBACK_ADDRESSES
        return any(name_matches(name, host) for name in self.names)

    # ---- SSL contexts ------------------------------------------------------------------

    def server_context(self, mint_for: Callable[[str], bool] | None = None) -> ssl.SSLContext:
        """A server-side context presenting the server certificate.

        With ``mint_for``, a client asking (by SNI) for a name the server certificate does
        not cover gets a leaf minted for that name when ``mint_for(name)`` says so.
        """
        if mint_for is None:
            if self._server_context is None:
                self._server_context = self._context(self.server_cert_path, self.server_key_path)
            return self._server_context
        context = self._context(self.server_cert_path, self.server_key_path)

        def choose(sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            if server_name and not self.covers(server_name) and mint_for(server_name):
                try:
                    sslobj.context = self.context_for(server_name)
                except Exception:  # a failed mint must not kill the handshake machinery
                    log.exception("minting a certificate for %s failed", server_name)

        context.sni_callback = choose
        return context

    def cached_context_for(self, host: str) -> ssl.SSLContext | None:
        with self._lock:
            context = self._leaves.get(host.lower())
            if context is not None:
                self._leaves.move_to_end(host.lower())
            return context

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server-side context with a leaf certificate for ``host`` alone (minted once, cached)."""
        host = _strip_brackets(host).lower()
        cached = self.cached_context_for(host)
        if cached is not None:
            return cached
        pair = _issue(self._ca, [] if _is_ip(host) else [host], [host] if _is_ip(host) else [])
        context = self._context_from_pair(pair)
        with self._lock:
            self._leaves[host] = context
            while len(self._leaves) > _LEAF_CACHE_SIZE:
                self._leaves.popitem(last=False)
        log.debug("minted a certificate for %s", host)
        return context

    def issue(self, names: Iterable[str], addresses: Iterable[str] = ()) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for the names, signed by the CA: for containers and tests."""
        pair = _issue(self._ca, list(names), list(addresses))
        return _cert_pem(pair.cert), _key_pem(pair.key)

    def _context_from_pair(self, pair: _Pair) -> ssl.SSLContext:
        # load_cert_chain only reads files: a private temporary file, gone right after.
        fd, name = tempfile.mkstemp(prefix=".leaf-", suffix=".pem", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_key_pem(pair.key) + _cert_pem(pair.cert))
            return self._context(Path(name), Path(name))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    @staticmethod
    def _context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile, keyfile)
        # HTTP/1.1 only: the edge speaks nothing else, and saying so stops clients offering h2.
        context.set_alpn_protocols(["http/1.1"])
        return context


class AuthorityLoader:
    """Loads (or makes) the authority in a worker thread so start-up does not wait for it."""

    def __init__(self, directory: Path, suffixes: Iterable[str]) -> None:
        self.directory = directory
        self.suffixes = tuple(suffixes)
        self._task: asyncio.Future[LocalAuthority] | None = None
        self._authority: LocalAuthority | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(
                asyncio.to_thread(LocalAuthority.load_or_create, self.directory, self.suffixes)
            )
            self._task.add_done_callback(self._report)

    def _report(self, task: asyncio.Future[LocalAuthority]) -> None:
        # Said once here; every TLS connection that needs the authority gets the error too.
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "TLS is unavailable: the local CA in %s could not be loaded or made: %s",
                self.directory,
                task.exception(),
            )

    @property
    def ready(self) -> LocalAuthority | None:
        """The authority if it is loaded, else None (never waits)."""
        return self._authority

    async def get(self) -> LocalAuthority:
        if self._authority is not None:
            return self._authority
        if self._task is not None and self._task.done() and (self._task.cancelled() or self._task.exception()):
            self._task = None  # try again: the cause (a missing or read-only directory) may be gone
        self.start()
        assert self._task is not None
        self._authority = await asyncio.shield(self._task)
        return self._authority


# ---- certificate making ---------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _new_ca() -> _Pair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _new_key()
    try:
        owner = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in some containers
        owner = socket.gethostname()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LocalZure"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, owner[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, "LocalZure development CA"),
        ]
    )
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Pair(cert, key)


def _issue(ca: _Pair, names: list[str], addresses: Iterable[str]) -> _Pair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _new_key()
    addresses = list(addresses)
    common = (names or addresses or ["localhost"])[0]
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    now = _now()
    not_after = min(now + LEAF_VALIDITY, ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LocalZure"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return _Pair(cert, key)


def _is_current(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - RENEW_BEFORE > now


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _server_is_usable(cert: x509.Certificate, ca: _Pair, names: list[str]) -> bool:
    """Signed by this CA, not near expiry, and naming every name wanted (new adapters add some)."""
    from cryptography import x509

    if cert.issuer != ca.cert.subject or not _is_current(cert):
        return False
    try:
        cert.verify_directly_issued_by(ca.cert)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:
        return False
    present = {name.lower() for name in sans.get_values_for_type(x509.DNSName)}
    addresses = {str(address) for address in sans.get_values_for_type(x509.IPAddress)}
    return set(names) <= present and set(LOOPBACK_ADDRESSES) <= addresses


def _load_pair(cert_path: Path, key_path: Path) -> _Pair | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except Exception as exc:
        log.warning("ignoring unreadable certificate %s: %s", cert_path, exc)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        log.warning("the key in %s does not belong to %s: making new ones", key_path, cert_path)
        return None
    if key_path.stat().st_mode & 0o077:
        key_path.chmod(0o600)
    return _Pair(cert, key)


def _write_pair(cert_path: Path, key_path: Path, pair: _Pair) -> None:
    # The key first: a crash between the two leaves a key whose certificate does not match,
    # which _load_pair detects and replaces.
    _write_atomically(key_path, _key_pem(pair.key), 0o600)
    _write_atomically(cert_path, _cert_pem(pair.cert), 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def _key_pem(key: EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Two processes starting on one data dir (server and ``cert export``) make one CA, not two."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the atomic writes still keep files whole
        yield
        return
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def export_ca(directory: Path, suffixes: Iterable[str] = ()) -> bytes:
    """The CA certificate PEM, making the CA first when there is none."""
    return LocalAuthority.load_or_create(directory, suffixes).ca_pem
