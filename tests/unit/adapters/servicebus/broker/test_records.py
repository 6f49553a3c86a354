"""Stored forms: typed property values, messages and entity definitions round-trip through JSON."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from adapters.servicebus.broker.messages import BrokerMessage, MessageState
from adapters.servicebus.broker.paths import EntityPath, parse_path
from adapters.servicebus.broker.records import decode_record, encode_record
from adapters.servicebus.broker.values import decode_mapping, decode_value, encode_mapping, encode_value
from adapters.servicebus.entities import (
    MAX_TIMESPAN,
    CorrelationFilter,
    EntityStatus,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionProperties,
)


def through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def test_property_values_keep_their_types() -> None:
    values = {
        "s": "text",
        "i": 2**62,
        "b": False,
        "f": 1.5,
        "none": None,
        "dt": datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "td": timedelta(days=-1, seconds=5, microseconds=7),
        "u": uuid.uuid4(),
        "raw": b"\xff\x00",
        "dec": Decimal("-12.3400"),
        "inf": float("-inf"),
    }
    decoded = decode_mapping(through_json(encode_mapping(values)))
    assert decoded == values
    assert {k: type(v) for k, v in decoded.items()} == {k: type(v) for k, v in values.items()}
    assert math.isnan(decode_mapping(through_json(encode_mapping({"n": math.nan})))["n"])


def test_amqp_wire_types_are_kept() -> None:
    from adapters.servicebus.amqp import types as amqp

    values = {
        "int": amqp.Int(5),
        "long": amqp.Long(5),
        "ubyte": amqp.UByte(1),
        "float32": amqp.Float(0.5),
        "symbol": amqp.Symbol("s"),
        "char": amqp.Char("c"),
        "decimal": amqp.Decimal(b"\x00" * 8),
    }
    decoded = decode_mapping(through_json(encode_mapping(values)))
    assert decoded == values
    assert {k: type(v) for k, v in decoded.items()} == {k: type(v) for k, v in values.items()}


def test_other_subclasses_are_stored_as_their_plain_type() -> None:
    class Mine(str):
        pass

    stored = through_json(encode_value(Mine("x")))
    assert stored == "x"
    with pytest.raises(ValueError):  # and a stored class from elsewhere is never imported
        decode_value(["type", "os:system", "x"])


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_value(object())


def test_message_record_round_trip() -> None:
    message = BrokerMessage(
        body=b"\x00body",
        message_id="m",
        correlation_id="c",
        session_id="s",
        reply_to="r",
        reply_to_session_id="rs",
        to="to",
        subject="subj",
        content_type="application/json",
        partition_key="pk",
        time_to_live=12.5,
        scheduled_enqueue_time=1000.0,
        application_properties={"when": datetime(2020, 1, 1, tzinfo=UTC)},
        sequence_number=42,
        enqueued_time=999.0,
        expires_at=1011.5,
        delivery_count=3,
        state=MessageState.DEFERRED,
        dead_letter_source="q",
        size=10,
        transfer_hops=2,
    )
    restored = BrokerMessage.from_record(through_json(message.record()))
    assert restored.record() == message.record()
    assert restored.body == message.body
    assert restored.state is MessageState.DEFERRED
    assert restored.application_properties == message.application_properties


def test_entity_records_round_trip() -> None:
    queue = QueueProperties("q", lock_duration=timedelta(seconds=45), status=EntityStatus.RECEIVE_DISABLED)
    assert decode_record(QueueProperties, through_json(encode_record(queue))) == queue
    assert decode_record(QueueProperties, through_json(encode_record(queue))).default_message_time_to_live == (
        MAX_TIMESPAN
    )
    sub = SubscriptionProperties("t", "s", forward_to="q")
    assert decode_record(SubscriptionProperties, through_json(encode_record(sub))) == sub
    for rule in (
        RuleProperties("t", "s", "sql", SqlFilter("a = @p", {"@p": 5}), SqlRuleAction("SET b = @d", {"@d": 1.5})),
        RuleProperties("t", "s", "corr", CorrelationFilter(subject="x", properties={"k": uuid.UUID(int=1)})),
    ):
        assert decode_record(RuleProperties, through_json(encode_record(rule))) == rule


def test_a_record_from_another_version_loads_with_defaults() -> None:
    restored = decode_record(QueueProperties, {"name": "q", "field_of_a_later_version": 1})
    assert (restored.name, restored.max_delivery_count) == ("q", 10)


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("orders", EntityPath("orders")),
        ("/orders/", EntityPath("orders")),
        ("a/b", EntityPath("a/b")),
        ("orders/$DeadLetterQueue", EntityPath("orders", None, True)),
        ("t/Subscriptions/s", EntityPath("t", "s")),
        ("T/SUBSCRIPTIONS/S/$deadletterqueue", EntityPath("T", "S", True)),
    ],
)
def test_paths(path: str, parsed: EntityPath) -> None:
    assert parse_path(path) == parsed
