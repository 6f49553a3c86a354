from pathlib import Path

from controlplane.hosts import BEGIN, END, apply_hosts, hosts_lines
from controlplane.registry import discover


def test_lines_cover_every_account_and_service_hostname() -> None:
    lines = hosts_lines({"devstoreaccount1": "k", "myapp": "k"}, discover().values())
    assert "127.0.0.1 myapp.queue.localhost" in lines
    assert "127.0.0.1 devstoreaccount1.queue.core.windows.net" in lines
    assert len(lines) == len(set(lines))


def test_apply_replaces_its_own_block_and_keeps_the_rest(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    apply_hosts(hosts, ["127.0.0.1 a.queue.localhost"])
    apply_hosts(hosts, ["127.0.0.1 b.queue.localhost"])
    text = hosts.read_text()
    assert text.startswith("127.0.0.1 localhost\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "b.queue.localhost" in text and "a.queue.localhost" not in text
