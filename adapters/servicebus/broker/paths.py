"""Entity paths as clients address them: ``queue``, ``topic/Subscriptions/sub``, either with ``/$DeadLetterQueue``.

Azure matches the ``Subscriptions`` and ``$DeadLetterQueue`` segments, like entity names,
without regard to case. Queue and topic names may themselves contain ``/``, so only those
two reserved segments split a path.
"""

from __future__ import annotations

from dataclasses import dataclass

_DEAD_LETTER = "/$deadletterqueue"
_SUBSCRIPTIONS = "/subscriptions/"


@dataclass(frozen=True, slots=True)
class EntityPath:
    entity: str
    """The queue or topic name."""
    subscription: str | None = None
    dead_letter: bool = False


def parse_path(path: str) -> EntityPath:
    path = path.strip("/")
    lower = path.lower()
    dead_letter = lower.endswith(_DEAD_LETTER)
    if dead_letter:
        path = path[: -len(_DEAD_LETTER)]
        lower = lower[: -len(_DEAD_LETTER)]
    cut = lower.rfind(_SUBSCRIPTIONS)
    if cut < 0:
        return EntityPath(path, None, dead_letter)
    return EntityPath(path[:cut], path[cut + len(_SUBSCRIPTIONS) :], dead_letter)


def subscription_path(topic: str, subscription: str) -> str:
    return f"{topic}/Subscriptions/{subscription}"


def dead_letter_path(path: str) -> str:
    return f"{path}/$DeadLetterQueue"
