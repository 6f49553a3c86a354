"""Labels, names and the orphan rules: which existing containers start may remove."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controlplane.config import load_settings
from controlplane.runners.containers import (
    Owner,
    Verdict,
    azurite_spec,
    container_name,
    judge,
    labels,
    owner_alive,
    spec_for,
    this_owner,
    volume_name,
)
from controlplane.runners.engine import ContainerInfo


def info(labels: dict[str, str], name: str = "localzure-queue") -> ContainerInfo:
    return ContainerInfo(id="c" * 64, name=name, image="img", status="running", health=None, labels=labels)


ME = Owner("box", 100, 1_700_000_000, "aaaa")
OTHER = Owner("box", 200, 1_700_000_100, "bbbb")


def test_labels_mark_managed_service_owner_and_data_dir(tmp_path: Path) -> None:
    assert container_name("queue") == "localzure-queue"
    assert labels("queue", str(ME), tmp_path) == {
        "io.localzure.managed": "true",
        "io.localzure.service": "queue",
        "io.localzure.owner": str(ME),
        "io.localzure.data-dir": str(tmp_path.absolute()),
    }


def test_each_data_dir_gets_its_own_volume(tmp_path: Path) -> None:
    assert volume_name("queue", tmp_path / "a") != volume_name("queue", tmp_path / "b")
    assert volume_name("queue", tmp_path / "a") == volume_name("queue", tmp_path / "a")
    assert volume_name("queue", tmp_path / "a").startswith("localzure-queue-")


def test_owner_round_trips_and_rejects_garbage() -> None:
    assert Owner.parse(str(ME)) == ME
    assert Owner.parse("nonsense") is None
    assert Owner.parse("box/notapid/1/x") is None
    me = this_owner()
    assert owner_alive(me)


def test_owner_alive_compares_start_time_so_a_reused_pid_is_not_alive() -> None:
    assert owner_alive(OTHER, host="box", start_of=lambda pid: OTHER.started)
    assert not owner_alive(OTHER, host="box", start_of=lambda pid: OTHER.started + 500)
    assert not owner_alive(OTHER, host="box", start_of=lambda pid: None)
    # Another host's control plane cannot be checked from here: never presumed dead.
    assert owner_alive(OTHER, host="elsewhere", start_of=lambda pid: None)


@pytest.mark.parametrize(
    ("container_labels", "alive", "verdict"),
    [
        ({}, False, Verdict.UNMANAGED),
        ({"io.localzure.owner": str(OTHER)}, False, Verdict.UNMANAGED),
        ({"io.localzure.managed": "true", "io.localzure.owner": str(ME)}, True, Verdict.OURS),
        ({"io.localzure.managed": "true", "io.localzure.owner": str(OTHER)}, False, Verdict.ORPHAN),
        ({"io.localzure.managed": "true", "io.localzure.owner": str(OTHER)}, True, Verdict.FOREIGN_OWNER),
        ({"io.localzure.managed": "true", "io.localzure.owner": "garbled"}, True, Verdict.ORPHAN),
    ],
)
def test_judge(container_labels: dict[str, str], alive: bool, verdict: str) -> None:
    assert judge(info(container_labels), ME, alive=lambda owner: alive) == verdict


def test_azurite_spec_runs_one_service_on_all_interfaces_with_persistence() -> None:
    spec = azurite_spec("queue")
    assert spec.image == "mcr.microsoft.com/azure-storage/azurite"
    assert spec.ports == {10001: "queue"}
    command = list(spec.command)
    assert command[0] == "azurite-queue"
    assert command[command.index("--queueHost") + 1] == "0.0.0.0"
    assert command[command.index("--location") + 1] == spec.volume_path
    assert "--loose" in command and "--skipApiVersionCheck" in command


_TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _probe(spec, tcp: str, tmp_path) -> int:
    """Runs the spec's health probe against a made-up kernel socket table."""
    table = tmp_path / "tcp"
    table.write_text(_TCP_HEADER + tcp)
    command = [arg for arg in spec.healthcheck if not arg.startswith("/proc/")]
    return subprocess.run([*command, str(table), str(tmp_path / "missing-tcp6")]).returncode


def test_azurite_probe_passes_only_while_the_port_is_listening(tmp_path) -> None:
    spec = azurite_spec("queue")  # port 10001 = 0x2711
    listening = "   0: 00000000:2711 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
    connected = "   1: 0100007F:2711 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    other_port = "   2: 00000000:2710 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
    assert _probe(spec, listening, tmp_path) == 0
    assert _probe(spec, connected + other_port, tmp_path) != 0


def test_spec_for_picks_azurite_unless_the_emulator_switch_says_localzure() -> None:
    from adapters.queue.adapter import QueueAdapter

    adapter = QueueAdapter()
    assert spec_for(adapter, {}, None).command[0] == "azurite-queue"  # type: ignore[union-attr]
    assert spec_for(adapter, {}, "my/azurite:1").image == "my/azurite:1"  # type: ignore[union-attr]
    ours = spec_for(adapter, {"emulator": "localzure"}, None)
    assert ours is not None and "adapters.queue" in ours.command


def test_spec_for_hands_the_container_the_services_settings() -> None:
    from adapters.queue.adapter import QueueAdapter

    settings = {"emulator": "localzure", "strict_auth": True, "names": ["a", "b"]}
    spec = spec_for(QueueAdapter(), settings, None)
    assert spec is not None
    # What the emulator in the container reads back (run_alone: LOCALZURE_* from its environment).
    assert load_settings(env=spec.env).service("queue").model_extra == settings
    assert spec_for(QueueAdapter(), {}, None) == azurite_spec("queue")
