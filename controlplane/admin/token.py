"""The admin token that guards mutating admin endpoints once the edge leaves loopback."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_FILE = "admin-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issue_admin_token(data_dir: Path) -> str:
    """A fresh random token, written (0600) to the data dir for the CLI and the user to read."""
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    log.warning("the edge is not on loopback: mutating admin endpoints need the token in %s", path)
    return token
