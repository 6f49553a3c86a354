from collections.abc import Iterator

import httpx
import pytest

from controlplane.testing.server import LocalZureThread


@pytest.fixture
def admin(localzure: LocalZureThread) -> Iterator[httpx.Client]:
    """The admin API; faults and rate limits are cleared after each test (the server is shared)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{localzure.edge_port}/_localzure") as client:
        yield client
        client.delete("/faults")
        client.put("/rate-limits", json={"rules": []})
