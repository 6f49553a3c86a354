"""SQL rule actions: ``SET`` and ``REMOVE`` statements compiled into steps over a message copy.

Statements run in order and each sees the effect of the ones before it. User properties
are found case-insensitively and keep the spelling they were sent with; ``SET`` over an
existing value widens as C# would (an integer stored over a float stays a float). Only the
system properties a sender may set can be changed; assigning one a value of another type
fails on that message, as the service's "implicit conversion if possible" cannot apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from lark import Tree

from adapters.servicebus.filters.errors import FilterEvaluationError, RuleSyntaxError
from adapters.servicebus.filters.grammar import parse
from adapters.servicebus.filters.message import MessageView
from adapters.servicebus.filters.properties import SystemProperty, user_key
from adapters.servicebus.filters.sql import ExpressionCompiler, Reader, error_at, guarded
from adapters.servicebus.filters.values import type_name

MAX_ACTION_STATEMENTS = 32
"""The service's limit on the statements of one rule action."""

_NULLABLE_SYSTEM_KINDS = (str, datetime)
"""System properties a REMOVE may clear; the others (TimeToLive, ForcePersistence) always have a value."""

Step = Callable[[MessageView, dict[str, Any], dict[str, Any]], None]
"""One statement: reads through the view, writes the (system, user) dicts behind it."""


def _converted(existing: Any, value: Any) -> Any:
    """What SET stores over an existing value: C#'s implicit widening to the existing type."""
    if type(value) is int and type(existing) is float:
        return float(value)
    if type(value) is int and type(existing) is Decimal:
        return Decimal(value)
    return value


def _user_setter(name: str, read: Reader) -> Step:
    lowered = name.lower()

    def set_user(view: MessageView, system: dict[str, Any], user: dict[str, Any]) -> None:
        value = read(view)
        key = user_key(user, name, lowered)
        if key is None:
            user[name] = value
        else:
            user[key] = _converted(user[key], value)

    return set_user


def _user_remover(name: str) -> Step:
    lowered = name.lower()

    def remove_user(view: MessageView, system: dict[str, Any], user: dict[str, Any]) -> None:
        key = user_key(user, name, lowered)
        if key is not None:
            del user[key]

    return remove_user


def _system_setter(known: SystemProperty, read: Reader) -> Step:
    key, kind = known.key, known.kind
    nullable = kind in _NULLABLE_SYSTEM_KINDS

    def set_system(view: MessageView, system: dict[str, Any], user: dict[str, Any]) -> None:
        value = read(view)
        if not (isinstance(value, kind) or (value is None and nullable)):
            shown = "NULL" if value is None else type_name(value)
            raise FilterEvaluationError(f"A value of type {shown} cannot be assigned to sys.{key}.")
        system[key] = value

    return set_system


def _system_remover(known: SystemProperty) -> Step:
    key = known.key

    def remove_system(view: MessageView, system: dict[str, Any], user: dict[str, Any]) -> None:
        system[key] = None

    return remove_system


def _step(compiler: ExpressionCompiler, statement: Tree) -> Step:
    target = statement.children[0]
    ref = compiler.property_ref(target)
    read = compiler.value(statement.children[2]).read if statement.data == "set_action" else None
    if not ref.system:
        return _user_setter(ref.name, read) if read is not None else _user_remover(ref.name)
    known = ref.known
    if known is None:
        raise error_at(target, ref.text, f"The system property '{ref.text}' does not exist.")
    if not known.writable:
        raise error_at(target, ref.text, f"The system property '{ref.text}' cannot be changed by a rule action.")
    if read is not None:
        return _system_setter(known, read)
    if known.kind not in _NULLABLE_SYSTEM_KINDS:
        raise error_at(target, ref.text, f"The system property '{ref.text}' cannot be removed.")
    return _system_remover(known)


def _steps(compiler: ExpressionCompiler, tree: Tree) -> list[Step]:
    if len(tree.children) > MAX_ACTION_STATEMENTS:
        raise RuleSyntaxError(
            f"The SQL action has {len(tree.children)} statements; at most {MAX_ACTION_STATEMENTS} are allowed."
        )
    return [_step(compiler, statement) for statement in tree.children]


def compile_sql_action(expression: str, parameters: Mapping[str, object]) -> Callable[[MessageView], MessageView]:
    """A SQL action as a function returning a new MessageView with its statements applied;
    the input message is left untouched."""
    compiler = ExpressionCompiler(parameters)
    steps: list[Step] = guarded(lambda: _steps(compiler, parse(expression, "actions")))

    def apply(message: MessageView) -> MessageView:
        system, user = dict(message.system), dict(message.user)
        changed = MessageView(system=system, user=user)
        for step in steps:
            step(changed, system, user)
        return changed

    return apply
