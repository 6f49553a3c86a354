"""Source and target (part 3.5): the two ends of a link, as named in attach.

A Service Bus client names the entity in ``source.address`` (receivers) or
``target.address`` (senders), and asks for a session through the source's filter map
(``com.microsoft:session-filter``: a session id, or null for "next available").
"""

from __future__ import annotations

from typing import Any

from .composite import ANY, BOOLEAN, FIELDS, STRING, SYMBOL, SYMBOLS, UINT, Composite, Field

SESSION_END = "session-end"


class Source(Composite):
    DESCRIPTOR = 0x28
    NAME = "amqp:source:list"
    FIELDS = (
        Field("address", STRING),
        Field("durable", UINT, 0),
        Field("expiry_policy", SYMBOL, SESSION_END),
        Field("timeout", UINT, 0),
        Field("dynamic", BOOLEAN, False),
        Field("dynamic_node_properties", FIELDS),
        Field("distribution_mode", SYMBOL),
        Field("filter", ANY),
        Field("default_outcome", ANY),
        Field("outcomes", SYMBOLS, multiple=True),
        Field("capabilities", SYMBOLS, multiple=True),
    )
    address: str | None
    durable: int
    expiry_policy: str
    timeout: int
    dynamic: bool
    dynamic_node_properties: dict[str, Any] | None
    distribution_mode: str | None
    filter: dict[Any, Any] | None
    default_outcome: Any
    outcomes: list[str] | None
    capabilities: list[str] | None


class Target(Composite):
    DESCRIPTOR = 0x29
    NAME = "amqp:target:list"
    FIELDS = (
        Field("address", STRING),
        Field("durable", UINT, 0),
        Field("expiry_policy", SYMBOL, SESSION_END),
        Field("timeout", UINT, 0),
        Field("dynamic", BOOLEAN, False),
        Field("dynamic_node_properties", FIELDS),
        Field("capabilities", SYMBOLS, multiple=True),
    )
    address: str | None
    durable: int
    expiry_policy: str
    timeout: int
    dynamic: bool
    dynamic_node_properties: dict[str, Any] | None
    capabilities: list[str] | None
