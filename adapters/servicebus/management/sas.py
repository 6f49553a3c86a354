"""Service Bus shared access signatures, for the management API and for AMQP CBS alike.

A token reads ``SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>&skn=<key name>``
(fields in any order, each URL-encoded). The SDKs sign ``<sr>\\n<se>`` with HMAC-SHA256,
keyed with the key *string's* UTF-8 bytes (Service Bus keys are not base64-decoded), and
put the URL-encoded resource they signed in ``sr``. Verifying against ``sr`` exactly as
sent accepts every client's encoding (Python's ``quote_plus``, .NET's ``UrlEncode``,
upper- or lower-case escapes) without re-encoding anything.

The ``message`` of each error is what the service puts in a 401's Detail or a CBS
status description.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlsplit

PREFIX = "SharedAccessSignature"
_REQUIRED = ("sr", "sig", "se", "skn")


class SasTokenError(Exception):
    message = "InvalidSignature: The token has an invalid signature."

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class MalformedToken(SasTokenError):
    message = "MalformedToken: The credentials contained in the authorization header are not well-formed."


class UnknownKeyName(SasTokenError):
    """The key name is not configured. The service answers as for a bad signature."""


class InvalidSignature(SasTokenError):
    pass


class TokenExpired(SasTokenError):
    message = "ExpiredToken: The token is expired."


@dataclass(frozen=True)
class SasToken:
    audience: str
    """The signed resource, decoded: ``https://ns.servicebus.windows.net/`` or ``sb://ns/queue``."""
    key_name: str
    expiry: int
    """Seconds since the epoch."""
    signature: bytes
    signed_text: str
    """``<sr>\\n<se>`` as they appear in the token: what the signature covers."""


def parse_token(token: str) -> SasToken:
    """Splits a token into its fields; anything that is not a whole SAS token is :class:`MalformedToken`."""
    scheme, _, rest = token.strip().partition(" ")
    if scheme.lower() != PREFIX.lower() or not rest:
        raise MalformedToken
    raw: dict[str, str] = {}
    for pair in rest.strip().split("&"):
        name, sep, value = pair.partition("=")
        name = name.strip().lower()
        if not sep or not name or not value.strip() or name in raw:
            raise MalformedToken
        raw[name] = value.strip()
    if any(field not in raw for field in _REQUIRED):
        raise MalformedToken
    try:
        expiry = int(unquote_plus(raw["se"]))
        signature = base64.b64decode(unquote_plus(raw["sig"]), validate=True)
    except (ValueError, binascii.Error):
        raise MalformedToken from None
    return SasToken(
        audience=unquote_plus(raw["sr"]),
        key_name=unquote_plus(raw["skn"]),
        expiry=expiry,
        signature=signature,
        signed_text=f"{raw['sr']}\n{raw['se']}",
    )


def validate(token: str, keys: Mapping[str, str], now: datetime | None = None) -> str:
    """The token's audience if ``keys`` (key name -> key) signed it and it has not expired.

    Raises :class:`MalformedToken`, :class:`UnknownKeyName`, :class:`InvalidSignature` or
    :class:`TokenExpired`. Key names match case-insensitively, as the service's do.
    """
    parsed = parse_token(token)
    by_name = {name.casefold(): key for name, key in keys.items()}
    key = by_name.get(parsed.key_name.casefold())
    if key is None:
        raise UnknownKeyName
    expected = hmac.new(key.encode(), parsed.signed_text.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, parsed.signature):
        raise InvalidSignature
    moment = (now or datetime.now(UTC)).timestamp()
    if parsed.expiry <= moment:
        stamp = datetime.fromtimestamp(parsed.expiry, UTC).strftime("%Y-%m-%d %H:%M:%S")
        raise TokenExpired(f"ExpiredToken: The token is expired. Expiration time: '{stamp}Z'")
    return parsed.audience


def audience_covers(audience: str, host: str, path: str) -> bool:
    """Whether a token for ``audience`` grants access to ``path`` on ``host``.

    The scheme (``sb``, ``https``, ``amqps``) and port do not matter; the audience's path
    must be the entity path or one of its ancestors, compared case-insensitively.
    """
    target = urlsplit(audience if "://" in audience else f"sb://{audience}")
    if (target.hostname or "").casefold() != host.split(":")[0].casefold():
        return False
    scope = target.path.strip("/").casefold()
    wanted = path.strip("/").casefold()
    return not scope or wanted == scope or wanted.startswith(scope + "/")
