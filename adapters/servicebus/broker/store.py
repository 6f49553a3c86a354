"""Where the broker's state lives in the state backend, and the one place that knows the key layout.

The broker is authoritative in memory and writes every change through. Each entity gets a
numeric id at creation, so a deleted and re-created name never meets its predecessor's
messages and an entity's rows share one key prefix (``<id>/``) that a delete removes at once.

Namespaces:
- ``sb.queues``, ``sb.topics``: ``<id>`` -> properties.
- ``sb.subscriptions``: ``<topic id>/<id>`` -> properties; ``sb.rules``: ``<subscription id>/<name>`` -> rule.
- ``sb.meta``: ``ids`` -> the last entity id given out.
- ``sb.sequence``: ``<id>`` -> the last sequence number a queue or topic assigned.
- ``sb.messages``: ``<id>/<a|d><seq, 16 hex digits>`` -> the message (``a`` the entity itself, ``d`` its
  dead-letter queue), and ``<that key>.c`` -> its delivery count. The count is the one field that
  changes on every delivery; keeping it apart means a delivery rewrites a few bytes instead of the
  body, and a completion removes both rows with one prefix delete.
- ``sb.duplicates``: ``<id>/<message id>`` -> [time, sequence number] (duplicate detection history).
- ``sb.sessions``: ``<id>/<session id>`` -> the session state (base64).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from controlplane.state.backend import StateBackend

QUEUES = "sb.queues"
TOPICS = "sb.topics"
SUBSCRIPTIONS = "sb.subscriptions"
RULES = "sb.rules"
META = "sb.meta"
SEQUENCE = "sb.sequence"
MESSAGES = "sb.messages"
DUPLICATES = "sb.duplicates"
SESSIONS = "sb.sessions"

ACTIVE_TAG = "a"
DEAD_LETTER_TAG = "d"
_COUNT_SUFFIX = ".c"
_ENTITY_SCOPED = (MESSAGES, DUPLICATES, SESSIONS)


def message_key(prefix: str, sequence_number: int) -> str:
    return f"{prefix}{sequence_number:016x}"


class BrokerStore:
    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self._last_id = 0

    async def flush(self) -> None:
        await self.backend.flush()

    def flush_now(self) -> bool:
        """Durable already, or made so without waiting; ``False`` when only awaiting ``flush`` can."""
        return self.backend.flush_now()

    # -- entities ----------------------------------------------------------------------------

    def new_id(self) -> int:
        self._last_id += 1
        self.backend.put(META, "ids", self._last_id)
        return self._last_id

    def put_entity(self, namespace: str, key: str, record: dict[str, Any]) -> None:
        self.backend.put(namespace, key, record)

    def delete_entity(self, namespace: str, key: str, entity_id: int) -> None:
        """Remove an entity's definition and every row it owns."""
        self.backend.delete(namespace, key)
        self.delete_owned(entity_id)

    def delete_entity_key(self, namespace: str, key: str) -> None:
        self.backend.delete(namespace, key)

    def delete_owned(self, entity_id: int) -> None:
        """Remove the sequence counter, messages, duplicate history and session states of an entity."""
        self.backend.delete(SEQUENCE, str(entity_id))
        for owned in _ENTITY_SCOPED:
            self.backend.delete_prefix(owned, f"{entity_id}/")

    def delete_rule(self, subscription_id: int, name: str) -> None:
        self.delete_entity_key(RULES, f"{subscription_id}/{name.lower()}")

    def put_rule(self, subscription_id: int, name: str, record: dict[str, Any]) -> None:
        self.backend.put(RULES, f"{subscription_id}/{name.lower()}", record)

    def delete_rules(self, subscription_id: int) -> None:
        self.backend.delete_prefix(RULES, f"{subscription_id}/")

    def put_sequence(self, entity_id: int, sequence_number: int) -> None:
        self.backend.put(SEQUENCE, str(entity_id), sequence_number)

    # -- messages ----------------------------------------------------------------------------

    def put_message(self, key: str, record: dict[str, Any]) -> None:
        self.backend.put(MESSAGES, key, record)

    def put_delivery_count(self, key: str, count: int) -> None:
        self.backend.put(MESSAGES, key + _COUNT_SUFFIX, count)

    def delete_message(self, key: str) -> None:
        self.backend.delete_prefix(MESSAGES, key)

    def put_duplicate(self, entity_id: int, message_id: str, seen: float, sequence_number: int) -> None:
        self.backend.put(DUPLICATES, f"{entity_id}/{message_id}", [seen, sequence_number])

    def delete_duplicate(self, entity_id: int, message_id: str) -> None:
        self.backend.delete(DUPLICATES, f"{entity_id}/{message_id}")

    def put_session_state(self, entity_id: int, session_id: str, state: bytes | None) -> None:
        key = f"{entity_id}/{session_id}"
        if state is None:
            self.backend.delete(SESSIONS, key)
        else:
            self.backend.put(SESSIONS, key, base64.b64encode(state).decode())

    # -- loading -----------------------------------------------------------------------------

    def load_entities(self, namespace: str) -> Iterator[tuple[str, Any]]:
        return self.backend.load(namespace)

    def load_ids(self) -> None:
        for key, value in self.backend.load(META):
            if key == "ids":
                self._last_id = int(value)

    def load_sequences(self) -> dict[int, int]:
        return {int(key): int(value) for key, value in self.backend.load(SEQUENCE)}

    def load_messages(self) -> Iterator[tuple[int, str, dict[str, Any], int]]:
        """(entity id, tag, message record, delivery count) for every stored message, in key order."""
        pending: tuple[int, str, dict[str, Any]] | None = None
        count = 0
        for key, value in self.backend.load(MESSAGES):
            if key.endswith(_COUNT_SUFFIX):
                count = max(count, int(value))
                continue
            if pending is not None:
                yield (*pending, count)
            entity_id, _, rest = key.partition("/")
            pending, count = (int(entity_id), rest[0], value), int(value.get("dc", 0))
        if pending is not None:
            yield (*pending, count)

    def load_scoped(self, namespace: str) -> Iterator[tuple[int, str, Any]]:
        """(entity id, rest of the key, value) of a per-entity namespace (duplicates, sessions)."""
        for key, value in self.backend.load(namespace):
            entity_id, _, rest = key.partition("/")
            yield int(entity_id), rest, value
