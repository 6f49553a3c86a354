"""The entities Service Bus starts with: the official emulator's Config.json and our YAML form.

Both become ``list[NamespaceConfig]``. Values are checked as the real service checks them
(the official emulator's tighter caps, e.g. TTL <= 1 h, are not applied); a property that
is left out takes the real service's default. An invalid value raises
:class:`~controlplane.config.ConfigError` naming the entity, the field and the value.

``NamespaceConfig.rules`` lists every rule each subscription starts with: its configured
rules, or the ``$Default`` rule (TrueFilter: every message) when it configures none.

**Config.json** (the official emulator's): ``UserConfig.Namespaces[]`` with ``Queues``,
``Topics`` and each topic's ``Subscriptions`` and their ``Rules``; every entity has a
``Name`` and ``Properties`` named as in the management API (``LockDuration: "PT1M"``,
``MaxDeliveryCount: 3``, ``ForwardTo: ""``; an empty string means none). A rule's
``Properties`` hold ``FilterType`` (``Sql`` or ``Correlation``), ``SqlFilter.SqlExpression``
or ``CorrelationFilter`` (``CorrelationId``, ``MessageId``, ``To``, ``ReplyTo``, ``Label``,
``SessionId``, ``ReplyToSessionId``, ``ContentType``, ``Properties``), and optionally
``Action.SqlExpression``. ``UserConfig.Logging`` is accepted and ignored.

**YAML**, under ``services.servicebus`` in the LocalZure config::

    services:
      servicebus:
        config_file: servicebus/Config.json   # optional, relative to the working directory
        # or config_json: the same Config.json content inline (how Docker mode hands the
        # file's content to the service's container)
        namespaces:
          - name: sbemulatorns
            queues:
              - name: orders
                lock_duration: PT1M             # ISO 8601, or a number of seconds
                max_delivery_count: 3
                requires_session: false
                forward_dead_lettered_messages_to: audit
            topics:
              - name: events
                default_message_time_to_live: PT1H
                subscriptions:
                  - name: all                   # no rules: receives every message ($Default)
                  - name: high-priority
                    max_delivery_count: 5
                    rules:
                      - name: priority
                        sql_filter: "priority > 5"
                        action: "SET routed = 'high'"
                      - name: eu
                        sql_filter: {expression: "region = @region", parameters: {"@region": eu}}
                      - name: invoices
                        correlation_filter: {subject: invoice, properties: {tenant: contoso}}

Entity keys are the snake_case names of the management API's properties (the fields of
:mod:`adapters.servicebus.entities`): ``lock_duration``, ``max_size_in_megabytes``,
``requires_duplicate_detection``, ``requires_session``, ``default_message_time_to_live``,
``dead_lettering_on_message_expiration``, ``duplicate_detection_history_time_window``,
``max_delivery_count``, ``enable_batched_operations``, ``status``, ``forward_to``,
``forward_dead_lettered_messages_to``, ``auto_delete_on_idle``, ``enable_partitioning``,
``enable_express``, ``user_metadata``, ``max_message_size_in_kilobytes``, and for topics
``support_ordering``, for subscriptions ``dead_lettering_on_filter_evaluation_exceptions``.
A rule has at most one of ``sql_filter`` and ``correlation_filter`` (neither: every
message); ``sql_filter`` and ``action`` are an expression or ``{expression, parameters}``;
``correlation_filter`` takes ``correlation_id``, ``message_id``, ``to``, ``reply_to``,
``subject`` (or ``label``), ``session_id``, ``reply_to_session_id``, ``content_type`` and
``properties``. Namespaces named in both the Config.json and the YAML are merged.
Other keys under ``services.servicebus`` belong to the adapter and are not read here.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from adapters.servicebus.entities import (
    CorrelationFilter,
    EntityStatus,
    Filter,
    NamespaceConfig,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionProperties,
    TopicProperties,
    TrueFilter,
)
from adapters.servicebus.management import validation
from adapters.servicebus.management.timespan import parse_duration
from adapters.servicebus.management.validation import InvalidProperty
from controlplane.config import ConfigError

_NAMESPACE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NOT_CONFIGURABLE = frozenset({"name", "topic_name", "created_at", "updated_at", "accessed_at"})
_CORRELATION_FIELDS = (
    "correlation_id",
    "message_id",
    "to",
    "reply_to",
    "subject",
    "session_id",
    "reply_to_session_id",
    "content_type",
)
_RULE_FIELDS_IN_YAML = {
    "SqlFilter.SqlExpression": "sql_filter",
    "SqlFilter.Parameters": "sql_filter.parameters",
    "SqlRuleAction.SqlExpression": "action",
    "SqlRuleAction.Parameters": "action.parameters",
    "CorrelationFilter": "correlation_filter",
    "CorrelationFilter.Properties": "correlation_filter.properties",
}
_RULE_FIELDS_IN_JSON = {
    "SqlFilter.SqlExpression": "Properties.SqlFilter.SqlExpression",
    "SqlRuleAction.SqlExpression": "Properties.Action.SqlExpression",
    "CorrelationFilter": "Properties.CorrelationFilter",
    "CorrelationFilter.Properties": "Properties.CorrelationFilter.Properties",
}

Entity = TypeVar("Entity", QueueProperties, TopicProperties, SubscriptionProperties, RuleProperties)


def _pascal(snake: str) -> str:
    return "".join(word.capitalize() for word in snake.split("_"))


def _snake(pascal: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", pascal).lower()


class _Source:
    """Where values come from, for naming them in errors: Config.json (PascalCase) or YAML (snake_case)."""

    def __init__(self, label: str, *, pascal: bool) -> None:
        self.label = label
        self.pascal = pascal

    def key(self, snake: str) -> str:
        return _pascal(snake) if self.pascal else snake

    def error(self, where: str, value: object, reason: str) -> ConfigError:
        shown = f"'{value}'" if isinstance(value, str) else repr(value)
        return ConfigError(f"{self.label}: {where} = {shown}: {reason}")

    def field_of(self, error: InvalidProperty, where: str) -> str:
        """The path of a failed management-API property as this source spells it."""
        if error.field in ("Name", "TopicName"):
            return f"{where}.{self.key('name')}"
        field, bracket, key = error.field.partition("[")
        renamed = (_RULE_FIELDS_IN_JSON if self.pascal else _RULE_FIELDS_IN_YAML).get(field)
        if renamed is not None:
            return f"{where}.{renamed}{bracket}{key}"
        if self.pascal:
            return f"{where}.Properties.{error.field}"
        return f"{where}.{_snake(error.field)}"


def _mapping(value: object, source: _Source, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise source.error(where, value, "expected a mapping")
    return value


def _items(value: object, source: _Source, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise source.error(where, value, "expected a list")
    return [_mapping(item, source, f"{where}[{index}]") for index, item in enumerate(value)]


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], source: _Source, where: str) -> None:
    for key in data:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise source.error(f"{where}.{key}", data[key], f"unknown setting (expected one of {expected})")


def _name(data: Mapping[str, Any], source: _Source, where: str) -> str:
    name = data.get(source.key("name"))
    if not isinstance(name, str) or not name:
        raise source.error(f"{where}.{source.key('name')}", name, "every entity needs a name")
    return name


def _duration(value: object) -> timedelta:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise ValueError("the duration is longer than TimeSpan.MaxValue") from None
    raise ValueError("expected an ISO 8601 duration such as PT1M, or a number of seconds")


def _converter(kind: object) -> Callable[[object], object]:
    """How a YAML/JSON value becomes a field of this type; each raises ValueError with the reason."""

    def boolean(value: object) -> bool:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value

    def integer(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected an integer")
        return value

    def status(value: object) -> EntityStatus:
        try:
            return EntityStatus(str(value))
        except ValueError:
            raise ValueError(f"expected one of {', '.join(s.value for s in EntityStatus)}") from None

    def text(value: object) -> str | None:
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value or None

    converters: dict[object, Callable[[object], object]] = {
        bool: boolean,
        int: integer,
        timedelta: _duration,
        EntityStatus: status,
    }
    return converters.get(kind, text)


def _properties(cls: type[Entity], data: Mapping[str, Any], source: _Source, where: str) -> dict[str, Any]:
    """The configurable fields of ``cls`` that ``data`` sets, converted."""
    hints = typing.get_type_hints(cls)
    known = {source.key(f.name): f.name for f in fields(cls) if f.name not in _NOT_CONFIGURABLE}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        try:
            values[known[key]] = _converter(hints[known[key]])(value)
        except ValueError as exc:
            raise source.error(f"{where}.{key}", value, str(exc)) from None
    return values


def _checked(entity: Entity, check: Callable[[Entity], None], source: _Source, where: str) -> Entity:
    try:
        check(entity)
    except InvalidProperty as exc:
        raise source.error(source.field_of(exc, where), exc.value, exc.reason) from None
    return entity


def _scalars(value: object, source: _Source, where: str) -> dict[str, object]:
    values = dict(_mapping(value, source, where))
    for key, item in values.items():
        if isinstance(item, list | dict) or item is None:
            raise source.error(f"{where}.{key}", item, "expected a string, number, boolean, instant or duration")
    return values


class _NamespaceBuilder:
    """Collects one namespace's entities, refusing duplicate names as the service does."""

    def __init__(self, config: NamespaceConfig) -> None:
        self.config = config
        entities: list[QueueProperties | TopicProperties] = [*config.queues, *config.topics]
        self._entity_names = {entity.name.casefold() for entity in entities}
        keys: list[tuple[str, ...]] = [(s.topic_name, s.name) for s in config.subscriptions]
        keys += [(r.topic_name, r.subscription_name, r.name) for r in config.rules]
        self._children = {tuple(part.casefold() for part in key) for key in keys}

    def add_entity(self, entity: QueueProperties | TopicProperties, source: _Source, where: str) -> None:
        if entity.name.casefold() in self._entity_names:
            raise source.error(f"{where}.{source.key('name')}", entity.name, "a queue or topic of that name exists")
        self._entity_names.add(entity.name.casefold())
        if isinstance(entity, QueueProperties):
            self.config.queues.append(entity)
        else:
            self.config.topics.append(entity)

    def add_child(self, key: tuple[str, ...], source: _Source, where: str) -> None:
        folded = tuple(part.casefold() for part in key)
        if folded in self._children:
            raise source.error(f"{where}.{source.key('name')}", key[-1], "the name is used twice")
        self._children.add(folded)

    def check_forwarding(self, source: _Source, where: str) -> None:
        """Forwarding targets must exist, as the service checks when the entity is created."""
        entities: list[QueueProperties | SubscriptionProperties] = [*self.config.queues, *self.config.subscriptions]
        for entity in entities:
            if isinstance(entity, QueueProperties):
                at = f"{where}[{self.config.name}].{source.key('queues')}[{entity.name}]"
            else:
                topics, subscriptions = source.key("topics"), source.key("subscriptions")
                at = f"{where}[{self.config.name}].{topics}[{entity.topic_name}].{subscriptions}[{entity.name}]"
            for field in ("forward_to", "forward_dead_lettered_messages_to"):
                target = getattr(entity, field)
                if target is not None and target.casefold() not in self._entity_names:
                    prefix = "Properties." if source.pascal else ""
                    reason = "no queue or topic of that name in the namespace"
                    raise source.error(f"{at}.{prefix}{source.key(field)}", target, reason)


def _namespace_name(data: Mapping[str, Any], source: _Source, where: str) -> str:
    name = _name(data, source, where)
    if not _NAMESPACE_NAME.fullmatch(name):
        raise source.error(f"{where}.{source.key('name')}", name, "a namespace name is letters, digits and hyphens")
    return name


# --- Config.json -------------------------------------------------------------------------


def load_emulator_config(path: Path) -> list[NamespaceConfig]:
    """Reads the official emulator's Config.json."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"servicebus config file {path}: {exc}") from None
    return parse_emulator_config(data, str(path))


def parse_emulator_config(data: object, label: str = "Config.json") -> list[NamespaceConfig]:
    """The official emulator's ``{"UserConfig": {"Namespaces": [...], "Logging": {...}}}``."""
    source = _Source(label, pascal=True)
    root = _mapping(data, source, "(top level)")
    _reject_unknown(root, {"UserConfig"}, source, "(top level)")
    user = _mapping(root.get("UserConfig"), source, "UserConfig")
    _reject_unknown(user, {"Namespaces", "Logging"}, source, "UserConfig")
    namespaces = []
    for index, item in enumerate(_items(user.get("Namespaces"), source, "UserConfig.Namespaces")):
        where = f"UserConfig.Namespaces[{index}]"
        _reject_unknown(item, {"Name", "Queues", "Topics"}, source, where)
        builder = _NamespaceBuilder(NamespaceConfig(_namespace_name(item, source, where)))
        _entities(builder, item, source, f"Namespaces[{builder.config.name}]", _json_properties, _json_rule)
        builder.check_forwarding(source, "Namespaces")
        namespaces.append(builder.config)
    return namespaces


PropertiesReader = Callable[[type[Any], Mapping[str, Any], _Source, str, set[str]], dict[str, Any]]
RuleReader = Callable[[SubscriptionProperties, Mapping[str, Any], _Source, str], RuleProperties]


def _json_properties(
    cls: type[Entity], item: Mapping[str, Any], source: _Source, where: str, children: set[str]
) -> dict[str, Any]:
    """An entity of Config.json: ``Name``, its ``Properties`` and the lists of its children."""
    _reject_unknown(item, {"Name", "Properties", *children}, source, where)
    properties = _mapping(item.get("Properties"), source, f"{where}.Properties")
    allowed = {source.key(f.name) for f in fields(cls) if f.name not in _NOT_CONFIGURABLE}
    _reject_unknown(properties, allowed, source, f"{where}.Properties")
    return _properties(cls, properties, source, f"{where}.Properties")


def _yaml_properties(
    cls: type[Entity], item: Mapping[str, Any], source: _Source, where: str, children: set[str]
) -> dict[str, Any]:
    """An entity of the YAML form: its name, properties and children side by side."""
    allowed = {f.name for f in fields(cls) if f.name not in _NOT_CONFIGURABLE} | {"name", *children}
    _reject_unknown(item, allowed, source, where)
    return _properties(cls, item, source, where)


def _entities(
    builder: _NamespaceBuilder,
    data: Mapping[str, Any],
    source: _Source,
    where: str,
    read_properties: PropertiesReader,
    read_rule: RuleReader,
) -> None:
    """A namespace's queues, topics, subscriptions and rules, in either source's spelling."""
    queues, topics, subscriptions, rules = (source.key(key) for key in ("queues", "topics", "subscriptions", "rules"))
    for item in _items(data.get(queues), source, f"{where}.{queues}"):
        name = _name(item, source, f"{where}.{queues}")
        at = f"{where}.{queues}[{name}]"
        queue = QueueProperties(name, **read_properties(QueueProperties, item, source, at, set()))
        builder.add_entity(_checked(queue, validation.check_queue, source, at), source, at)
    for item in _items(data.get(topics), source, f"{where}.{topics}"):
        name = _name(item, source, f"{where}.{topics}")
        at = f"{where}.{topics}[{name}]"
        topic = TopicProperties(name, **read_properties(TopicProperties, item, source, at, {subscriptions}))
        builder.add_entity(_checked(topic, validation.check_topic, source, at), source, at)
        for sub_item in _items(item.get(subscriptions), source, f"{at}.{subscriptions}"):
            sub_name = _name(sub_item, source, f"{at}.{subscriptions}")
            sub_at = f"{at}.{subscriptions}[{sub_name}]"
            properties = read_properties(SubscriptionProperties, sub_item, source, sub_at, {rules})
            subscription = SubscriptionProperties(name, sub_name, **properties)
            _add_subscription(builder, subscription, source, sub_at)
            configured = [
                read_rule(subscription, rule_item, source, f"{sub_at}.{rules}")
                for rule_item in _items(sub_item.get(rules), source, f"{sub_at}.{rules}")
            ]
            _add_rules(builder, subscription, configured, source, f"{sub_at}.{rules}")


def _json_rule(
    subscription: SubscriptionProperties, item: Mapping[str, Any], source: _Source, where: str
) -> RuleProperties:
    name = _name(item, source, where)
    at = f"{where}[{name}]"
    _reject_unknown(item, {"Name", "Properties"}, source, at)
    properties = _mapping(item.get("Properties"), source, f"{at}.Properties")
    _reject_unknown(properties, {"FilterType", "SqlFilter", "CorrelationFilter", "Action"}, source, f"{at}.Properties")
    filter_type = properties.get("FilterType")
    rule_filter: Filter
    if filter_type == "Sql":
        sql = _mapping(properties.get("SqlFilter"), source, f"{at}.Properties.SqlFilter")
        _reject_unknown(sql, {"SqlExpression"}, source, f"{at}.Properties.SqlFilter")
        rule_filter = SqlFilter(_text(sql.get("SqlExpression"), source, f"{at}.Properties.SqlFilter.SqlExpression"))
    elif filter_type == "Correlation":
        at_filter = f"{at}.Properties.CorrelationFilter"
        correlation = _mapping(properties.get("CorrelationFilter"), source, at_filter)
        rule_filter = _correlation(correlation, source, at_filter, aliases={"Label": "subject"})
    else:
        raise source.error(f"{at}.Properties.FilterType", filter_type, "expected 'Sql' or 'Correlation'")
    action_data = _mapping(properties.get("Action"), source, f"{at}.Properties.Action")
    _reject_unknown(action_data, {"SqlExpression"}, source, f"{at}.Properties.Action")
    expression = _text(action_data.get("SqlExpression", ""), source, f"{at}.Properties.Action.SqlExpression")
    action = SqlRuleAction(expression) if expression else None
    rule = RuleProperties(subscription.topic_name, subscription.name, name, rule_filter, action)
    return _checked(rule, validation.check_rule, source, at)


def _text(value: object, source: _Source, where: str) -> str:
    if not isinstance(value, str):
        raise source.error(where, value, "expected a string")
    return value


def _correlation(data: Mapping[str, Any], source: _Source, where: str, aliases: Mapping[str, str]) -> CorrelationFilter:
    """A correlation filter's fields (an empty string means none) and its ``properties``."""
    by_key = {source.key(name): name for name in _CORRELATION_FIELDS} | dict(aliases)
    allowed = {*by_key, source.key("properties")}
    _reject_unknown(data, allowed, source, where)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == source.key("properties"):
            values["properties"] = _scalars(value, source, f"{where}.{key}")
        else:
            values[by_key[key]] = _text(value, source, f"{where}.{key}") or None
    return CorrelationFilter(**values)


def _add_subscription(
    builder: _NamespaceBuilder, subscription: SubscriptionProperties, source: _Source, where: str
) -> None:
    builder.add_child((subscription.topic_name, subscription.name), source, where)
    builder.config.subscriptions.append(_checked(subscription, validation.check_subscription, source, where))


def _add_rules(
    builder: _NamespaceBuilder,
    subscription: SubscriptionProperties,
    rules: list[RuleProperties],
    source: _Source,
    where: str,
) -> None:
    for rule in rules or [RuleProperties(subscription.topic_name, subscription.name)]:
        builder.add_child((rule.topic_name, rule.subscription_name, rule.name), source, f"{where}[{rule.name}]")
        builder.config.rules.append(rule)


# --- YAML ----------------------------------------------------------------------------------


def load_service_config(settings: Mapping[str, Any], base_dir: Path) -> list[NamespaceConfig]:
    """``services.servicebus`` of the LocalZure config: its ``config_file`` and ``namespaces``.

    ``base_dir`` is the directory a relative ``config_file`` is resolved against (the
    control plane's working directory).
    """
    source = _Source("services.servicebus", pascal=False)
    namespaces: dict[str, _NamespaceBuilder] = {}
    config_file = settings.get("config_file")
    if config_file is not None:
        if not isinstance(config_file, str | Path):
            raise source.error("config_file", config_file, "expected a path")
        emulator_configs = load_emulator_config(Path(base_dir, config_file).expanduser())
    elif "config_json" in settings:
        emulator_configs = parse_emulator_config(settings["config_json"], "services.servicebus.config_json")
    else:
        emulator_configs = []
    for loaded in emulator_configs:
        namespaces[loaded.name.casefold()] = _NamespaceBuilder(loaded)
    for index, item in enumerate(_items(settings.get("namespaces"), source, "namespaces")):
        where = f"namespaces[{index}]"
        _reject_unknown(item, {"name", "queues", "topics"}, source, where)
        name = _namespace_name(item, source, where)
        builder = namespaces.setdefault(name.casefold(), _NamespaceBuilder(NamespaceConfig(name)))
        _entities(builder, item, source, f"namespaces[{name}]", _yaml_properties, _yaml_rule)
    for builder in namespaces.values():
        builder.check_forwarding(source, "namespaces")
    return [builder.config for builder in namespaces.values()]


def with_config_file_inline(settings: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``services.servicebus`` for a process that cannot read this machine's files (the
    service's container): ``config_file`` read here into ``config_json``.

    Invalid settings raise ConfigError here, naming the field, rather than stop the
    container with the same message in its log."""
    load_service_config(settings, base_dir)
    handed = dict(settings)
    config_file = handed.pop("config_file", None)
    if config_file is not None:
        handed["config_json"] = json.loads(Path(base_dir, config_file).expanduser().read_text(encoding="utf-8"))
    return handed


def _expression(value: object, source: _Source, where: str) -> tuple[str, dict[str, object]]:
    """``"a = 1"`` or ``{expression: "a = @p", parameters: {"@p": 1}}``."""
    if isinstance(value, str):
        return value, {}
    data = _mapping(value, source, where)
    _reject_unknown(data, {"expression", "parameters"}, source, where)
    parameters = _scalars(data.get("parameters"), source, f"{where}.parameters")
    return _text(data.get("expression"), source, f"{where}.expression"), parameters


def _yaml_rule(
    subscription: SubscriptionProperties, item: Mapping[str, Any], source: _Source, where: str
) -> RuleProperties:
    name = _name(item, source, where)
    at = f"{where}[{name}]"
    _reject_unknown(item, {"name", "sql_filter", "correlation_filter", "action"}, source, at)
    if "sql_filter" in item and "correlation_filter" in item:
        raise source.error(f"{at}.correlation_filter", item["correlation_filter"], "a rule has one filter, not two")
    rule_filter: Filter = TrueFilter()
    if "sql_filter" in item:
        rule_filter = SqlFilter(*_expression(item["sql_filter"], source, f"{at}.sql_filter"))
    elif "correlation_filter" in item:
        correlation = _mapping(item["correlation_filter"], source, f"{at}.correlation_filter")
        rule_filter = _correlation(correlation, source, f"{at}.correlation_filter", aliases={"label": "subject"})
    action = SqlRuleAction(*_expression(item["action"], source, f"{at}.action")) if "action" in item else None
    rule = RuleProperties(subscription.topic_name, subscription.name, name, rule_filter, action)
    return _checked(rule, validation.check_rule, source, at)
