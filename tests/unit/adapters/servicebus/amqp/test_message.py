"""Messages: sections written by hand decode into the right fields, untouched sections go back out
byte for byte, changed ones are re-encoded, batches split, and malformed messages are DecodeErrors."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from adapters.servicebus.amqp.encoding import encode
from adapters.servicebus.amqp.errors import DecodeError
from adapters.servicebus.amqp.message import BATCH_MESSAGE_FORMAT, Header, Message, Properties, split_batch
from adapters.servicebus.amqp.types import Long, Symbol, UShort

CORRELATION = UUID("00112233-4455-6677-8899-aabbccddeeff")
HEADER = "005370c0020141"
ANNOTATIONS = "005372c10c02a307782d6f70742d6b5505"
PROPERTIES = "005373c01d06a10369643140a1017140409800112233445566778899aabbccddeeff"
APPLICATION_PROPERTIES = "005374c10702a10161600007"
DATA = "005375a003616263"
FOOTER = "005378c10100"
MESSAGE = bytes.fromhex(HEADER + ANNOTATIONS + PROPERTIES + APPLICATION_PROPERTIES + DATA + FOOTER)


def test_sections_written_from_the_spec_decode() -> None:
    message = Message.decode(MESSAGE)

    assert message.header == Header(durable=True)
    assert message.header.priority == 4 and message.header.delivery_count == 0
    assert message.message_annotations == {"x-opt-k": 5}
    assert type(next(iter(message.message_annotations))) is Symbol
    properties = message.properties
    assert (properties.message_id, properties.to, properties.correlation_id) == ("id1", "q", CORRELATION)
    assert properties.group_id is None
    assert message.application_properties == {"a": 7}
    assert message.body_type == "data" and message.data == [b"abc"] and message.body == b"abc"
    assert message.footer == {}


def test_untouched_sections_are_copied_byte_for_byte() -> None:
    message = Message.decode(MESSAGE)
    assert message.encode() == MESSAGE
    # reading the maps keeps their wire types (the ushort stays a ushort)
    assert message.application_properties["a"] == 7
    assert message.message_annotations["x-opt-k"] == 5
    assert message.encode() == MESSAGE


def test_changed_sections_are_re_encoded_and_the_rest_copied() -> None:
    message = Message.decode(MESSAGE)
    message.header.delivery_count = 3
    message.message_annotations = {**message.message_annotations, "x-opt-sequence-number": Long(42)}
    encoded = message.encode()

    assert bytes.fromhex(PROPERTIES + APPLICATION_PROPERTIES + DATA + FOOTER) in encoded
    again = Message.decode(encoded)
    assert again.header.delivery_count == 3 and again.header.durable is True
    assert again.message_annotations == {"x-opt-k": 5, "x-opt-sequence-number": 42}
    assert encode(Long(42)) in encoded


def test_maps_are_read_only_views_and_replaced_by_assignment() -> None:
    message = Message.decode(MESSAGE)
    with pytest.raises(TypeError):
        message.application_properties["b"] = 1  # type: ignore[index]
    message.application_properties = {"a": UShort(7), "b": "x"}
    assert Message.decode(message.encode()).application_properties == {"a": 7, "b": "x"}


def test_non_canonical_descriptors_are_normalised_for_the_sdk() -> None:
    symbolic = bytes.fromhex("00a310") + b"amqp:data:binary" + bytes.fromhex("a003616263")
    long_code = bytes.fromhex("00800000000000000073c0020140")
    message = Message.decode(long_code + symbolic)
    assert message.encode() == bytes.fromhex("005373c0020140" + DATA)
    assert message.data == [b"abc"]
    assert message.properties.message_id is None


def test_body_kinds() -> None:
    sequence = Message.decode(bytes.fromhex("005376c00301520100537645"))
    assert sequence.body_type == "sequence" and sequence.sequence == [[1], []] and sequence.data is None
    value = Message.decode(bytes.fromhex("00537740"))
    assert value.body_type == "value" and value.value is None
    several = Message.decode(bytes.fromhex(DATA + "005375a00164"))
    assert several.data == [b"abc", b"d"] and several.body == b"abcd"
    assert Message.decode(b"").body_type is None


def test_messages_built_from_python_values() -> None:
    created = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    message = Message(
        value={"token": "SharedAccessSignature sr=x"},
        header=Header(ttl=60000, first_acquirer=True),
        properties=Properties(message_id=CORRELATION, group_id="session-1", creation_time=created, group_sequence=3),
        application_properties={"operation": "put-token", "expiration": created, "count": 2, "ratio": 0.5},
        delivery_annotations={"x-opt-d": True},
        footer={"f": b"\x00"},
    )
    decoded = Message.decode(message.encode())
    assert decoded.value == {"token": "SharedAccessSignature sr=x"}
    assert decoded.header == Header(ttl=60000, first_acquirer=True)
    assert decoded.properties.message_id == CORRELATION and decoded.properties.group_id == "session-1"
    assert decoded.properties.creation_time == created and decoded.properties.group_sequence == 3
    assert decoded.application_properties == {"operation": "put-token", "expiration": created, "count": 2, "ratio": 0.5}
    assert decoded.delivery_annotations == {"x-opt-d": True} and decoded.footer == {"f": b"\x00"}
    assert Message().encode() == b""
    with pytest.raises(ValueError):
        Message(data=[b"x"], value=1)


@pytest.mark.parametrize(
    ("message_id", "wire"),
    [(5, "5305"), (2**40, "800000010000000000"), (CORRELATION, "98"), (b"\x01", "a00101"), ("m", "a1016d")],
)
def test_message_ids_of_every_kind(message_id: object, wire: str) -> None:
    encoded = Message(properties=Properties(message_id=message_id)).encode()
    assert encoded.startswith(bytes.fromhex("005373c0") + encoded[4:6] + bytes.fromhex(wire))
    assert Message.decode(encoded).properties.message_id == message_id


def test_batches_split_into_their_messages() -> None:
    inner = [
        Message(data=f"body {i}".encode(), properties=Properties(message_id=f"m{i}"), application_properties={"i": i})
        for i in range(3)
    ]
    batch = Message.decode(Message(data=[m.encode() for m in inner]).encode())
    assert BATCH_MESSAGE_FORMAT == 0x80013700
    messages = split_batch(batch)
    assert [m.properties.message_id for m in messages] == ["m0", "m1", "m2"]
    assert [m.body for m in messages] == [b"body 0", b"body 1", b"body 2"]
    assert [m.application_properties["i"] for m in messages] == [0, 1, 2]


@pytest.mark.parametrize(
    ("hex_bytes", "why"),
    [
        ("a10178", "a section that is not described"),
        ("005375a00561", "a data section shorter than its size"),
        ("005370c10100", "a header that is a map"),
        ("005374c0020140", "application properties that are a list"),
        ("005375a0016100537740", "a data body followed by a value"),
        ("0053774000537740", "two value sections"),
        ("00539940", "an unknown section"),
        ("0053", "a section cut after its descriptor"),
    ],
)
def test_malformed_messages_are_decode_errors(hex_bytes: str, why: str) -> None:
    with pytest.raises(DecodeError):
        Message.decode(bytes.fromhex(hex_bytes))


def test_malformed_content_inside_a_section_is_found_when_read() -> None:
    message = Message.decode(bytes.fromhex("005374c10402a10178" + DATA))  # a key without a value
    assert message.data == [b"abc"]
    with pytest.raises(DecodeError):
        message.application_properties  # noqa: B018
