from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.servicebus.config import (
    load_emulator_config,
    load_service_config,
    parse_emulator_config,
    with_config_file_inline,
)
from adapters.servicebus.entities import (
    MAX_TIMESPAN,
    CorrelationFilter,
    EntityStatus,
    NamespaceConfig,
    SqlFilter,
    SqlRuleAction,
    TrueFilter,
)
from controlplane.config import ConfigError

SAMPLE = Path("/work/shared/data/servicebus/emulator-config.json")


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def _only(namespaces: list[NamespaceConfig]) -> NamespaceConfig:
    assert len(namespaces) == 1
    return namespaces[0]


def test_the_sample_config_json_loads() -> None:
    namespace = _only(load_emulator_config(SAMPLE))
    assert namespace.name == "sbemulatorns"
    queues = {queue.name: queue for queue in namespace.queues}
    assert list(queues) == ["orders", "checkout-sessions", "audit-forwarded"]
    orders = queues["orders"]
    assert orders.dead_lettering_on_message_expiration is True
    assert orders.default_message_time_to_live == timedelta(hours=1)
    assert orders.duplicate_detection_history_time_window == timedelta(seconds=20)
    assert (orders.forward_to, orders.forward_dead_lettered_messages_to) == (None, None)
    assert (orders.lock_duration, orders.max_delivery_count) == (timedelta(minutes=1), 3)
    assert (orders.requires_duplicate_detection, orders.requires_session) == (True, False)
    # Not in the file: the real service's defaults.
    assert (orders.auto_delete_on_idle, orders.max_size_in_megabytes) == (MAX_TIMESPAN, 1024)
    sessions = queues["checkout-sessions"]
    assert (sessions.requires_session, sessions.lock_duration, sessions.max_delivery_count) == (
        True,
        timedelta(seconds=30),
        5,
    )
    assert queues["audit-forwarded"].forward_to == "orders"

    [events] = namespace.topics
    assert (events.name, events.default_message_time_to_live, events.requires_duplicate_detection) == (
        "events",
        timedelta(hours=1),
        False,
    )
    subscriptions = {(s.topic_name, s.name): s for s in namespace.subscriptions}
    assert list(subscriptions) == [("events", "all"), ("events", "high-priority"), ("events", "invoices")]
    assert all(s.max_delivery_count == 3 and s.lock_duration == timedelta(minutes=1) for s in subscriptions.values())

    rules = {(r.subscription_name, r.name): r for r in namespace.rules}
    assert list(rules) == [
        ("all", "$Default"),
        ("high-priority", "priority-and-region"),
        ("invoices", "invoice-correlation"),
    ]
    assert rules[("all", "$Default")].filter == TrueFilter()
    sql = rules[("high-priority", "priority-and-region")]
    assert sql.filter == SqlFilter("priority > 5 AND region IN ('eu', 'us') AND sys.Label LIKE 'order%'")
    assert sql.action == SqlRuleAction("SET routed = 'high'")
    correlation = rules[("invoices", "invoice-correlation")]
    assert correlation.filter == CorrelationFilter(
        content_type="application/json", subject="invoice", properties={"tenant": "contoso"}
    )
    assert correlation.action is None


def _set(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    node: Any = data
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "UserConfig.Namespaces.0.Queues.0.Properties.LockDuration",
            "PT10M",
            "Namespaces[sbemulatorns].Queues[orders].Properties.LockDuration = 'PT10M': "
            "the value must be between PT5S and PT5M",
        ),
        (
            "UserConfig.Namespaces.0.Queues.0.Properties.MaxDeliveryCount",
            "3",
            "Namespaces[sbemulatorns].Queues[orders].Properties.MaxDeliveryCount = '3': expected an integer",
        ),
        (
            "UserConfig.Namespaces.0.Queues.1.Properties.RequiresSession",
            "yes",
            "Queues[checkout-sessions].Properties.RequiresSession = 'yes': expected true or false",
        ),
        (
            "UserConfig.Namespaces.0.Queues.0.Properties.LockDurration",
            "PT1M",
            "Queues[orders].Properties.LockDurration = 'PT1M': unknown setting",
        ),
        (
            "UserConfig.Namespaces.0.Queues.2.Properties.ForwardTo",
            "nowhere",
            "Queues[audit-forwarded].Properties.ForwardTo = 'nowhere': no queue or topic of that name",
        ),
        ("UserConfig.Namespaces.0.Queues.0.Name", "bad name", "Queues[bad name].Name = 'bad name'"),
        ("UserConfig.Namespaces.0.Queues.1.Name", "orders", "Queues[orders].Name = 'orders': a queue or topic of that"),
        (
            "UserConfig.Namespaces.0.Topics.0.Subscriptions.0.Properties.DefaultMessageTimeToLive",
            "1 hour",
            "Topics[events].Subscriptions[all].Properties.DefaultMessageTimeToLive = '1 hour': expected an ISO 8601",
        ),
        (
            "UserConfig.Namespaces.0.Topics.0.Subscriptions.1.Rules.0.Properties.FilterType",
            "Regex",
            "Rules[priority-and-region].Properties.FilterType = 'Regex': expected 'Sql' or 'Correlation'",
        ),
        (
            "UserConfig.Namespaces.0.Topics.0.Subscriptions.1.Rules.0.Properties.SqlFilter.SqlExpression",
            "",
            "Rules[priority-and-region].Properties.SqlFilter.SqlExpression = '': the SQL expression cannot be empty",
        ),
        (
            "UserConfig.Namespaces.0.Topics.0.Subscriptions.2.Rules.0.Properties.CorrelationFilter",
            {"Label": ""},
            "Rules[invoice-correlation].Properties.CorrelationFilter = '{}': a correlation filter needs",
        ),
        (
            "UserConfig.Namespaces.0.Topics.0.Subscriptions.2.Rules.0.Properties.CorrelationFilter.Properties",
            {"nested": {"a": 1}},
            "CorrelationFilter.Properties.nested = {'a': 1}: expected a string",
        ),
        ("UserConfig.Namespaces.0.Name", "-ns-", "UserConfig.Namespaces[0].Name = '-ns-'"),
        ("UserConfig.Extra", 1, "UserConfig.Extra = 1: unknown setting"),
    ],
)
def test_invalid_config_json_names_the_entity_field_and_value(path: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_emulator_config(_set(_sample(), path, value), "Config.json")
    assert str(caught.value).startswith("Config.json: ")
    assert message in str(caught.value)


def test_logging_is_ignored_and_empty_strings_mean_none() -> None:
    data = _sample()
    data["UserConfig"]["Logging"] = {"Type": "File,Console"}
    data["UserConfig"]["Namespaces"][0]["Topics"][0]["Subscriptions"][1]["Rules"][0]["Properties"]["Action"] = {
        "SqlExpression": ""
    }
    namespace = _only(parse_emulator_config(data))
    assert next(r for r in namespace.rules if r.name == "priority-and-region").action is None


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="servicebus config file"):
        load_emulator_config(tmp_path / "missing.json")
    broken = tmp_path / "Config.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="Config.json"):
        load_emulator_config(broken)


YAML = """
config_file: Config.json
port: 5672
strict_auth: true
namespaces:
  - name: sbemulatorns
    queues:
      - name: payments
        lock_duration: 45
        max_delivery_count: 2
        status: ReceiveDisabled
        forward_dead_lettered_messages_to: orders
  - name: second
    queues:
      - name: jobs
        requires_session: true
        auto_delete_on_idle: PT1H
        user_metadata: ""
    topics:
      - name: events
        support_ordering: false
        subscriptions:
          - name: all
          - name: filtered
            max_delivery_count: 5
            rules:
              - name: high
                sql_filter: "priority > 5"
                action: "SET routed = 'high'"
              - name: eu
                sql_filter: {expression: "region = @region", parameters: {"@region": eu, "@min": 2}}
                action: {expression: "SET n = @n", parameters: {"@n": 1.5}}
              - name: invoices
                correlation_filter: {label: invoice, content_type: application/json, properties: {tenant: contoso}}
              - name: everything
"""


def test_yaml_config_merges_with_its_config_file(tmp_path: Path) -> None:
    (tmp_path / "Config.json").write_text(SAMPLE.read_text())
    namespaces = {ns.name: ns for ns in load_service_config(yaml.safe_load(YAML), tmp_path)}
    assert list(namespaces) == ["sbemulatorns", "second"]

    first = namespaces["sbemulatorns"]
    assert [q.name for q in first.queues] == ["orders", "checkout-sessions", "audit-forwarded", "payments"]
    payments = first.queues[-1]
    assert (payments.lock_duration, payments.max_delivery_count, payments.status) == (
        timedelta(seconds=45),
        2,
        EntityStatus.RECEIVE_DISABLED,
    )
    assert payments.forward_dead_lettered_messages_to == "orders"

    second = namespaces["second"]
    [jobs] = second.queues
    assert (jobs.requires_session, jobs.auto_delete_on_idle, jobs.user_metadata) == (True, timedelta(hours=1), None)
    [events] = second.topics
    assert events.support_ordering is False
    assert [(s.name, s.max_delivery_count) for s in second.subscriptions] == [("all", 10), ("filtered", 5)]
    rules = {(r.subscription_name, r.name): r for r in second.rules}
    assert rules[("all", "$Default")].filter == TrueFilter()
    assert rules[("filtered", "high")].filter == SqlFilter("priority > 5")
    assert rules[("filtered", "high")].action == SqlRuleAction("SET routed = 'high'")
    assert rules[("filtered", "eu")].filter == SqlFilter("region = @region", {"@region": "eu", "@min": 2})
    assert rules[("filtered", "eu")].action == SqlRuleAction("SET n = @n", {"@n": 1.5})
    assert rules[("filtered", "invoices")].filter == CorrelationFilter(
        subject="invoice", content_type="application/json", properties={"tenant": "contoso"}
    )
    assert rules[("filtered", "everything")].filter == TrueFilter()
    assert ("filtered", "$Default") not in rules


def _timeless(namespaces: list[NamespaceConfig]) -> list[dict[str, Any]]:
    """The namespaces without their entities' creation times (which differ between two loads)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.endswith("_at")}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return [strip(dataclasses.asdict(namespace)) for namespace in namespaces]


def test_the_config_file_is_handed_on_inline(tmp_path: Path) -> None:
    (tmp_path / "Config.json").write_text(SAMPLE.read_text())
    settings = yaml.safe_load(YAML)
    handed = with_config_file_inline(settings, tmp_path)
    assert "config_file" not in handed and handed["config_json"] == _sample()
    # Read elsewhere (the container, another working directory), the same entities.
    assert _timeless(load_service_config(handed, Path("/"))) == _timeless(load_service_config(settings, tmp_path))
    with pytest.raises(ConfigError, match="servicebus config file"):
        with_config_file_inline(settings, tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="config_json"):
        load_service_config({"config_json": {"UserConfig": {"Namespaces": "orders"}}}, tmp_path)


def test_yaml_without_a_config_file() -> None:
    settings = {"namespaces": [{"name": "ns", "queues": [{"name": "q"}]}]}
    [namespace] = load_service_config(settings, Path("."))
    assert [q.name for q in namespace.queues] == ["q"]
    assert load_service_config({}, Path(".")) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "lock_duration": "PT6M"}]}]},
            "services.servicebus: namespaces[ns].queues[q].lock_duration = 'PT6M': the value must be between",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "max_delivery_count": 0}]}]},
            "namespaces[ns].queues[q].max_delivery_count = 0: the value must be between 1 and 2147483647",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "lock_duration": True}]}]},
            "namespaces[ns].queues[q].lock_duration = True: expected an ISO 8601 duration",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "default_message_time_to_live": 1e20}]}]},
            "namespaces[ns].queues[q].default_message_time_to_live = 1e+20: the duration is longer than",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "lockduration": "PT1M"}]}]},
            "namespaces[ns].queues[q].lockduration = 'PT1M': unknown setting",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q", "status": "Paused"}]}]},
            "namespaces[ns].queues[q].status = 'Paused': expected one of Active",
        ),
        (
            {"namespaces": [{"name": "ns", "queues": [{"name": "q"}, {"name": "Q"}]}]},
            "namespaces[ns].queues[Q].name = 'Q': a queue or topic of that name exists",
        ),
        (
            {
                "namespaces": [
                    {"name": "ns", "topics": [{"name": "t", "subscriptions": [{"name": "s"}, {"name": "s"}]}]}
                ]
            },
            "namespaces[ns].topics[t].subscriptions[s].name = 's': the name is used twice",
        ),
        (
            {
                "namespaces": [
                    {"name": "ns", "topics": [{"name": "t", "subscriptions": [{"name": "s", "forward_to": "x"}]}]}
                ]
            },
            "namespaces[ns].topics[t].subscriptions[s].forward_to = 'x': no queue or topic of that name",
        ),
        (
            {
                "namespaces": [
                    {
                        "name": "ns",
                        "topics": [
                            {"name": "t", "subscriptions": [{"name": "s", "rules": [{"name": "r", "sql_filter": ""}]}]}
                        ],
                    }
                ]
            },
            "topics[t].subscriptions[s].rules[r].sql_filter = '': the SQL expression cannot be empty",
        ),
        (
            {
                "namespaces": [
                    {
                        "name": "ns",
                        "topics": [
                            {
                                "name": "t",
                                "subscriptions": [
                                    {
                                        "name": "s",
                                        "rules": [
                                            {"name": "r", "sql_filter": "a = 1", "correlation_filter": {"to": "x"}}
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
            "rules[r].correlation_filter = {'to': 'x'}: a rule has one filter, not two",
        ),
        ({"namespaces": {"name": "ns"}}, "namespaces = {'name': 'ns'}: expected a list"),
        ({"namespaces": [{"queues": []}]}, "namespaces[0].name = None: every entity needs a name"),
        ({"config_file": 3}, "config_file = 3: expected a path"),
    ],
)
def test_invalid_yaml_names_the_entity_field_and_value(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_service_config(settings, Path("."))
    assert message in str(caught.value)


def test_yaml_and_config_file_cannot_define_the_same_entity_twice(tmp_path: Path) -> None:
    (tmp_path / "Config.json").write_text(SAMPLE.read_text())
    settings = {"config_file": "Config.json", "namespaces": [{"name": "sbemulatorns", "topics": [{"name": "orders"}]}]}
    with pytest.raises(ConfigError, match=r"topics\[orders\]\.name = 'orders': a queue or topic of that name exists"):
        load_service_config(settings, tmp_path)
