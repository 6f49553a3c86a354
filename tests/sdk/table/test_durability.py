"""An acknowledged table write survives ``kill -9``: a real ``localzure-cp`` process, the real SDK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.data.tables import EdmType, EntityProperty, TableServiceClient, UpdateMode

from tests.support import WELL_KNOWN_KEY, free_port

CLI = [sys.executable, "-m", "controlplane"]


class Instance:
    def __init__(self, data_dir: Path) -> None:
        self.edge = free_port()
        self.table = free_port()
        self.env = {**os.environ, "LOCALZURE_SERVICES__TABLE__PORT": str(self.table)}
        self.common = ["--data-dir", str(data_dir), "--port", str(self.edge)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*CLI, "start", *self.common, "--mode", "host", "--services", "table"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        waited = subprocess.run(
            [*CLI, "wait", *self.common, "--timeout", "30"], capture_output=True, text=True, env=self.env, timeout=60
        )
        assert waited.returncode == 0, waited.stderr

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def service(self) -> TableServiceClient:
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={WELL_KNOWN_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.table}/devstoreaccount1;"
        )
        return TableServiceClient.from_connection_string(connection)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    inst = Instance(tmp_path / "data")
    yield inst
    if inst.process is not None and inst.process.poll() is None:
        inst.process.kill()
        inst.process.wait()


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(instance: Instance) -> None:
    instance.start()
    service = instance.service()
    acknowledged: dict[tuple[str, str], dict] = {}
    orders = service.create_table("orders")
    service.create_table("dropped")
    service.delete_table("dropped")
    for i in range(60):
        entity = {"PartitionKey": f"p{i % 3}", "RowKey": f"{i:03d}", "n": i, "big": EntityProperty(i, EdmType.INT64)}
        orders.create_entity(entity)
        acknowledged[(entity["PartitionKey"], entity["RowKey"])] = {**entity}
    batch = [("upsert", {"PartitionKey": "batch", "RowKey": f"{i:03d}", "n": i}) for i in range(100)]
    orders.submit_transaction(batch)
    for _, entity in batch:
        acknowledged[("batch", entity["RowKey"])] = entity
    orders.update_entity({"PartitionKey": "p0", "RowKey": "000", "merged": True}, mode=UpdateMode.MERGE)
    acknowledged[("p0", "000")]["merged"] = True
    orders.delete_entity("p1", "001")
    del acknowledged[("p1", "001")]
    etag = orders.get_entity("p2", "002").metadata["etag"]
    instance.kill()

    instance.start()
    service = instance.service()
    assert [t.name for t in service.list_tables()] == ["orders"]
    orders = service.get_table_client("orders")
    stored = {(e["PartitionKey"], e["RowKey"]): dict(e) for e in orders.list_entities()}
    assert stored == acknowledged
    # ETags survive too: a conditional write with the pre-crash ETag still matches.
    assert orders.get_entity("p2", "002").metadata["etag"] == etag
    instance.kill()
