"""Fixtures: a broker on a memory backend with a clock the test moves, and a stand-in rule engine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.servicebus.broker import Broker
from adapters.servicebus.broker import rules as broker_rules
from adapters.servicebus.entities import QueueProperties
from controlplane.state.memory import MemoryBackend
from tests.unit.adapters.servicebus.broker.support import FAKE_ENGINE, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(clock: Clock) -> Broker:
    return Broker(MemoryBackend(), clock=clock)


@pytest.fixture
async def queue(broker: Broker) -> str:
    """A queue "q" with a 30 s lock and at most 3 deliveries."""
    await broker.create_queue(QueueProperties("q", lock_duration=timedelta(seconds=30), max_delivery_count=3))
    return "q"


@pytest.fixture
def fake_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the rule engine (a colleague's package) with the stand-in of ``support``."""
    monkeypatch.setattr(broker_rules, "filter_engine", lambda: FAKE_ENGINE)
