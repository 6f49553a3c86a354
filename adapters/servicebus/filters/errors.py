"""The two ways a rule can fail: when it is created, and when it meets a message.

They are kept apart because the service treats them differently: a rule that cannot be
created is a 400 to the management client, while a rule that fails on one message only
affects that message (dead-lettered with reason ``FilterEvaluationExceptions`` when the
subscription asks for it, otherwise dropped for that subscription).
"""

from __future__ import annotations


class RuleSyntaxError(ValueError):
    """A SQL filter or action the service refuses at rule creation.

    ``message`` is the text the management API returns with its 400, worded like the
    service's own ("There was an error parsing the SQL expression. [Token line=...]").
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class FilterEvaluationError(Exception):
    """Evaluating a filter or action against one message failed (a type mismatch, a division
    by zero, an unknown ``sys.`` property): the service's FilterException."""
