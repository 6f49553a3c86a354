"""SASL (part 5.3) as a server: offer mechanisms, read the client's choice and credentials.

Service Bus clients authenticate the connection with SASL ANONYMOUS (or MSSBCBS) and
then authorize each entity with a CBS token (put-token on ``$cbs``), so SASL here only
records who the client says it is; :meth:`Application.authenticate` may still refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from .performatives import SaslInit

ANONYMOUS = "ANONYMOUS"
PLAIN = "PLAIN"
MSSBCBS = "MSSBCBS"
DEFAULT_MECHANISMS = (MSSBCBS, PLAIN, ANONYMOUS)


@dataclass(frozen=True)
class SaslCredentials:
    """What the client sent in sasl-init. ``username``/``password`` are PLAIN's (RFC 4616)."""

    mechanism: str
    hostname: str | None = None
    initial_response: bytes = b""
    authzid: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_init(cls, init: SaslInit) -> SaslCredentials:
        response = init.initial_response or b""
        authzid = username = password = None
        if init.mechanism == PLAIN:
            parts = response.split(b"\x00")
            if len(parts) == 3:
                authzid, username, password = (p.decode(errors="replace") for p in parts)
                authzid = authzid or None
        return cls(init.mechanism, init.hostname, response, authzid, username, password)
