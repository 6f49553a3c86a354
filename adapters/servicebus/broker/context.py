"""What every part of one broker shares: the store, the deadlines, the clock, the router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.servicebus.broker.store import BrokerStore
from adapters.servicebus.broker.timers import Timers

if TYPE_CHECKING:
    from adapters.servicebus.broker.router import Router


@dataclass(eq=False)
class BrokerContext:
    store: BrokerStore
    timers: Timers
    clock: Callable[[], float]
    router: Router
