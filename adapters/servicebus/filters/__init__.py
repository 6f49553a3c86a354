"""The topic-subscription rule engine: filters that pick messages, actions that annotate them.

Interface for the broker and the management layer::

    compile_filter(rule_filter: Filter) -> Callable[[MessageView], bool]
    compile_action(action: SqlRuleAction | None) -> Callable[[MessageView], MessageView] | None

Compile when a rule is created or loaded (parse trees are cached by text), then call the
functions per message. ``MessageView(system=..., user=...)`` carries the system properties
under their broker-property names (``MessageId``, ``Label`` for the AMQP subject, ``To``,
``TimeToLive``...; see ``MessageView``) and the application properties as sent.

Errors:

- ``RuleSyntaxError`` from either compile function: the rule must be refused (400); its
  ``message`` is worded like the service's ("There was an error parsing the SQL
  expression. [Token line=1, column=9, ...]"). Also raised for texts over 1024 characters,
  actions with more than 32 statements, undefined ``@parameters``, unknown functions, and
  ``SET``/``REMOVE`` on a system property a rule may not change.
- ``FilterEvaluationError`` from a compiled filter or action: evaluating that rule on that
  message failed (no C# operator for the operand types, division by zero, an unknown
  ``sys.`` name). The broker dead-letters the message with reason
  ``FilterEvaluationExceptions`` when the subscription's
  ``dead_lettering_on_filter_evaluation_exceptions`` is set, and otherwise skips it.

Semantics follow the service's SQL filter and action documentation: a filter matches only
when its condition is TRUE (a missing user property is NULL and makes comparisons
unknown); names and keywords are case-insensitive, values are not (``=`` and ``LIKE`` are
ordinal); numbers compare and combine across int, float and Decimal; an action's
statements run in order on a copy of the message. Rule-level behaviour (one copy per
matching rule with an action, the ``RuleName`` property) belongs to the broker.
"""

from adapters.servicebus.filters.errors import FilterEvaluationError, RuleSyntaxError
from adapters.servicebus.filters.message import MessageView
from adapters.servicebus.filters.rules import ActionFunction, FilterFunction, compile_action, compile_filter

__all__ = [
    "ActionFunction",
    "FilterEvaluationError",
    "FilterFunction",
    "MessageView",
    "RuleSyntaxError",
    "compile_action",
    "compile_filter",
]
