"""The /etc/hosts lines that make ``<account>.<service>.localhost`` names resolve."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from controlplane.adapter import Adapter

BEGIN = "# >>> localzure >>>"
END = "# <<< localzure <<<"


def hosts_lines(accounts: Mapping[str, str], adapters: Iterable[Adapter]) -> list[str]:
    names = sorted({f"{account}{suffix}" for account in accounts for a in adapters for suffix in a.hostname_suffixes})
    return [f"127.0.0.1 {name}" for name in names]


def apply_hosts(path: Path, lines: list[str]) -> None:
    """Replace LocalZure's marked block in a hosts file (or append one)."""
    text = path.read_text() if path.exists() else ""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    block = [BEGIN, *lines, END]
    path.write_text("\n".join([*kept, *block]) + "\n")
