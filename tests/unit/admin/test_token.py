import stat
from pathlib import Path

from controlplane.admin.token import TOKEN_FILE, is_loopback, issue_admin_token


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))


def test_issued_token_is_private_and_random(tmp_path: Path) -> None:
    first = issue_admin_token(tmp_path)
    path = tmp_path / TOKEN_FILE
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert issue_admin_token(tmp_path) != first
