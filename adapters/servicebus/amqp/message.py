"""The AMQP message format (part 3.2): sections, the Message class, Service Bus batches.

A message is a series of described sections: header, delivery-annotations,
message-annotations, properties, application-properties, a body (one or more data
sections, one or more amqp-sequence sections, or one amqp-value) and a footer.

A broker mostly stores and forwards messages, so :meth:`Message.decode` only finds the
sections (each carries its size, so that is O(1) per section) and keeps their bytes;
a section is decoded the first time it is read, and :meth:`Message.encode` copies the
bytes of every section nobody replaced. Delivering a stored message therefore costs the
encoding of the header and message-annotations it changes, whatever its body.

Two kinds of section access, by what a caller does with them:

- ``header`` and ``properties`` are small objects the broker edits in place
  (``message.header.delivery_count += 1``): once read they are re-encoded from the object.
- the annotation and application-property maps are read-only views (filters read them on
  every message, and re-encoding them from Python values would change their wire types);
  to change one, assign a new mapping: ``message.message_annotations = {**old, key: value}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import decoding, encoding
from .composite import BINARY, BOOLEAN, MESSAGE_ID, STRING, SYMBOL, TIMESTAMP, UBYTE, UINT, Composite, Field
from .errors import DecodeError

HEADER = 0x70
DELIVERY_ANNOTATIONS = 0x71
MESSAGE_ANNOTATIONS = 0x72
PROPERTIES = 0x73
APPLICATION_PROPERTIES = 0x74
DATA = 0x75
AMQP_SEQUENCE = 0x76
AMQP_VALUE = 0x77
FOOTER = 0x78

MESSAGE_FORMAT = 0
BATCH_MESSAGE_FORMAT = 0x80013700
"""Microsoft's batch format: each data section of the body is one whole encoded message."""

_SECTION_NAMES = {
    "amqp:header:list": HEADER,
    "amqp:delivery-annotations:map": DELIVERY_ANNOTATIONS,
    "amqp:message-annotations:map": MESSAGE_ANNOTATIONS,
    "amqp:properties:list": PROPERTIES,
    "amqp:application-properties:map": APPLICATION_PROPERTIES,
    "amqp:data:binary": DATA,
    "amqp:amqp-sequence:list": AMQP_SEQUENCE,
    "amqp:amqp-value:*": AMQP_VALUE,
    "amqp:footer:map": FOOTER,
}
_LISTS = frozenset({0x45, 0xC0, 0xD0})
_MAPS = frozenset({0x40, 0xC1, 0xD1})
_SECTION_CONSTRUCTORS: dict[int, frozenset[int] | None] = {
    HEADER: _LISTS,
    DELIVERY_ANNOTATIONS: _MAPS,
    MESSAGE_ANNOTATIONS: _MAPS,
    PROPERTIES: _LISTS,
    APPLICATION_PROPERTIES: _MAPS,
    DATA: frozenset({0xA0, 0xB0}),
    AMQP_SEQUENCE: _LISTS,
    AMQP_VALUE: None,
    FOOTER: _MAPS,
}
_PREFIX = {code: bytes((0x00, 0x53, code)) for code in _SECTION_CONSTRUCTORS}
_BODY = (DATA, AMQP_SEQUENCE, AMQP_VALUE)
_NO_VALUE = object()


class Header(Composite):
    DESCRIPTOR = HEADER
    NAME = "amqp:header:list"
    FIELDS = (
        Field("durable", BOOLEAN, False),
        Field("priority", UBYTE, 4),
        Field("ttl", UINT),
        Field("first_acquirer", BOOLEAN, False),
        Field("delivery_count", UINT, 0),
    )
    durable: bool
    priority: int
    ttl: int | None
    first_acquirer: bool
    delivery_count: int


class Properties(Composite):
    DESCRIPTOR = PROPERTIES
    NAME = "amqp:properties:list"
    FIELDS = (
        Field("message_id", MESSAGE_ID),
        Field("user_id", BINARY),
        Field("to", STRING),
        Field("subject", STRING),
        Field("reply_to", STRING),
        Field("correlation_id", MESSAGE_ID),
        Field("content_type", SYMBOL),
        Field("content_encoding", SYMBOL),
        Field("absolute_expiry_time", TIMESTAMP),
        Field("creation_time", TIMESTAMP),
        Field("group_id", STRING),
        Field("group_sequence", UINT),
        Field("reply_to_group_id", STRING),
    )
    message_id: Any
    user_id: bytes | None
    to: str | None
    subject: str | None
    reply_to: str | None
    correlation_id: Any
    content_type: str | None
    content_encoding: str | None
    absolute_expiry_time: Any
    creation_time: Any
    group_id: str | None
    group_sequence: int | None
    reply_to_group_id: str | None


def _encode_annotations(out: bytearray, value: Mapping[Any, Any]) -> None:
    """Annotation maps are keyed by symbols (or ulongs): plain ``str`` keys go out as symbols."""
    body = bytearray()
    for key, item in value.items():
        if isinstance(key, int):
            encoding.encode_ulong(body, key)
        else:
            encoding.encode_symbol(body, key)
        encoding.encode_value(body, item)
    encoding.write_compound(out, body, 2 * len(value), 0xC1, 0xD1)


def encode_application_properties(out: bytearray, value: Mapping[str, Any]) -> None:
    """Application properties are keyed by strings, whatever type the caller's keys are."""
    body = bytearray()
    for key, item in value.items():
        encoding.encode_string(body, key)
        encoding.encode_value(body, item)
    encoding.write_compound(out, body, 2 * len(value), 0xC1, 0xD1)


_MAP_ENCODERS = {
    DELIVERY_ANNOTATIONS: _encode_annotations,
    MESSAGE_ANNOTATIONS: _encode_annotations,
    APPLICATION_PROPERTIES: encode_application_properties,
    FOOTER: _encode_annotations,
}


class Message:
    """One AMQP message. Build one with keywords, or :meth:`decode` received bytes.

    The body is ``data`` (a list of binary sections), ``sequence`` (a list of lists) or
    ``value`` (any single value, ``None`` included); ``body_type`` says which.
    """

    __slots__ = ("_raw", "_values", "_body_raw", "_body_type", "_body")

    def __init__(
        self,
        *,
        data: list[bytes] | bytes | None = None,
        sequence: list[list[Any]] | None = None,
        value: Any = _NO_VALUE,
        header: Header | None = None,
        delivery_annotations: Mapping[Any, Any] | None = None,
        message_annotations: Mapping[Any, Any] | None = None,
        properties: Properties | None = None,
        application_properties: Mapping[str, Any] | None = None,
        footer: Mapping[Any, Any] | None = None,
    ) -> None:
        self._raw: dict[int, bytes] = {}
        self._values: dict[int, Any] = {}
        self._body_raw: bytes | None = None
        self._body_type: int | None = None
        self._body: Any = None
        if sum(x is not None for x in (data, sequence)) + (value is not _NO_VALUE) > 1:
            raise ValueError("a message body is data, sequence or value, not several")
        if data is not None:
            self.data = [data] if isinstance(data, bytes | bytearray | memoryview) else data
        elif sequence is not None:
            self.sequence = sequence
        elif value is not _NO_VALUE:
            self.value = value
        for code, section in (
            (HEADER, header),
            (DELIVERY_ANNOTATIONS, delivery_annotations),
            (MESSAGE_ANNOTATIONS, message_annotations),
            (PROPERTIES, properties),
            (APPLICATION_PROPERTIES, application_properties),
            (FOOTER, footer),
        ):
            if section is not None:
                self._values[code] = section

    # ---- decoding -------------------------------------------------------------------

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Find the sections of an encoded message; raises :class:`DecodeError` if they are malformed."""
        buf = data if type(data) is bytes else bytes(data)
        self = cls.__new__(cls)
        self._raw = {}
        self._values = {}
        self._body_type = None
        self._body = None
        body_parts: list[bytes] = []
        pos, size = 0, len(buf)
        try:
            while pos < size:
                start = pos
                if buf[pos] != 0x00:
                    raise DecodeError(f"message section at offset {pos} is not a described value")
                if buf[pos + 1] == 0x53:
                    code, pos = buf[pos + 2], pos + 3
                    canonical = True
                else:
                    descriptor, pos = decoding.decode_value(buf, pos + 1)
                    code = _SECTION_NAMES.get(descriptor, -1) if isinstance(descriptor, str) else descriptor
                    canonical = False
                allowed = _SECTION_CONSTRUCTORS.get(code, frozenset())
                if allowed is not None and buf[pos] not in allowed:
                    raise DecodeError(f"section 0x{code:x} cannot start with constructor 0x{buf[pos]:02x}")
                end = decoding.skip_value(buf, pos)
                if code in _BODY:
                    if self._body_type is None:
                        self._body_type = code
                    elif self._body_type != code or code == AMQP_VALUE:
                        raise DecodeError("a message body is one kind of section (several data or sequence)")
                    body_parts.append(buf[start:end] if canonical else _PREFIX[code] + buf[pos:end])
                else:
                    self._raw[code] = buf[pos:end]
                pos = end
        except IndexError:
            raise DecodeError("truncated message section") from None
        self._body_raw = body_parts[0] if len(body_parts) == 1 else b"".join(body_parts)
        return self

    def _decoded(self, code: int) -> Any:
        try:
            return self._values[code]
        except KeyError:
            pass
        raw = self._raw.get(code)
        if raw is None:
            return None
        value = decoding.decode(raw)
        if code in (HEADER, PROPERTIES):
            value = (Header if code == HEADER else Properties).from_fields(value)
            del self._raw[code]
        elif value is not None:
            value = MappingProxyType(value)
        self._values[code] = value
        return value

    def _replace(self, code: int, value: Any) -> None:
        self._raw.pop(code, None)
        self._values[code] = value

    @property
    def header(self) -> Header | None:
        return self._decoded(HEADER)

    @header.setter
    def header(self, value: Header | None) -> None:
        self._replace(HEADER, value)

    @property
    def delivery_annotations(self) -> Mapping[Any, Any] | None:
        return self._decoded(DELIVERY_ANNOTATIONS)

    @delivery_annotations.setter
    def delivery_annotations(self, value: Mapping[Any, Any] | None) -> None:
        self._replace(DELIVERY_ANNOTATIONS, value)

    @property
    def message_annotations(self) -> Mapping[Any, Any] | None:
        return self._decoded(MESSAGE_ANNOTATIONS)

    @message_annotations.setter
    def message_annotations(self, value: Mapping[Any, Any] | None) -> None:
        self._replace(MESSAGE_ANNOTATIONS, value)

    @property
    def properties(self) -> Properties | None:
        return self._decoded(PROPERTIES)

    @properties.setter
    def properties(self, value: Properties | None) -> None:
        self._replace(PROPERTIES, value)

    @property
    def application_properties(self) -> Mapping[str, Any] | None:
        return self._decoded(APPLICATION_PROPERTIES)

    @application_properties.setter
    def application_properties(self, value: Mapping[str, Any] | None) -> None:
        self._replace(APPLICATION_PROPERTIES, value)

    @property
    def footer(self) -> Mapping[Any, Any] | None:
        return self._decoded(FOOTER)

    @footer.setter
    def footer(self, value: Mapping[Any, Any] | None) -> None:
        self._replace(FOOTER, value)

    # ---- body -------------------------------------------------------------------------

    @property
    def body_type(self) -> str | None:
        """``"data"``, ``"sequence"``, ``"value"``, or ``None`` for a message without a body."""
        return {DATA: "data", AMQP_SEQUENCE: "sequence", AMQP_VALUE: "value"}.get(self._body_type or 0)

    def _decoded_body(self) -> Any:
        if self._body is None and self._body_raw:
            buf, pos, items = self._body_raw, 0, []
            while pos < len(buf):
                value, pos = decoding.decode_value(buf, pos + 3)
                items.append(value)
            self._body = items
        return self._body

    def _set_body(self, code: int, items: list[Any]) -> None:
        self._body_type = code
        self._body = items
        self._body_raw = None

    @property
    def data(self) -> list[bytes] | None:
        """The data sections, or ``None`` when the body is not data."""
        return list(self._decoded_body()) if self._body_type == DATA else None

    @data.setter
    def data(self, sections: list[bytes]) -> None:
        self._set_body(DATA, [bytes(s) for s in sections])

    @property
    def sequence(self) -> list[list[Any]] | None:
        return list(self._decoded_body()) if self._body_type == AMQP_SEQUENCE else None

    @sequence.setter
    def sequence(self, sections: list[list[Any]]) -> None:
        self._set_body(AMQP_SEQUENCE, list(sections))

    @property
    def value(self) -> Any:
        """The amqp-value body (``None`` also when the body is not a value: see ``body_type``)."""
        return self._decoded_body()[0] if self._body_type == AMQP_VALUE else None

    @value.setter
    def value(self, value: Any) -> None:
        self._set_body(AMQP_VALUE, [value])

    @property
    def body(self) -> bytes:
        """The data sections joined: what a Service Bus client sees as the message body."""
        return b"".join(self.data or ())

    @property
    def body_sections(self) -> bytes:
        """The body's sections, encoded: what a broker stores and hands back unread."""
        if self._body_raw is not None:
            return self._body_raw
        out = bytearray()
        if self._body_type is not None:
            prefix = _PREFIX[self._body_type]
            for item in self._body:
                out += prefix
                if self._body_type == DATA:
                    encoding.encode_binary(out, item)
                else:
                    encoding.encode_value(out, item)
        return bytes(out)

    @classmethod
    def with_body_sections(cls, body_sections: bytes, **sections: Any) -> Message:
        """A message around a stored, already encoded body (see :attr:`body_sections`)."""
        message = cls(**sections)
        message._body_raw = body_sections
        message._body_type = DATA if body_sections[:3] == _PREFIX[DATA] else None
        return message

    # ---- encoding ---------------------------------------------------------------------

    def encode(self) -> bytes:
        """The message's bytes: sections nobody replaced are copied as received."""
        out = bytearray()
        for code in (HEADER, DELIVERY_ANNOTATIONS, MESSAGE_ANNOTATIONS, PROPERTIES, APPLICATION_PROPERTIES):
            self._encode_section(out, code)
        out += self.body_sections
        self._encode_section(out, FOOTER)
        return bytes(out)

    def _encode_section(self, out: bytearray, code: int) -> None:
        raw = self._raw.get(code)
        if raw is not None:
            out += _PREFIX[code]
            out += raw
            return
        value = self._values.get(code)
        if value is None:
            return
        encoder = _MAP_ENCODERS.get(code)
        if encoder is None:
            value.encode_into(out)  # Header and Properties: their descriptor is the section's
        else:
            out += _PREFIX[code]
            encoder(out, value)

    def __repr__(self) -> str:
        return f"Message(properties={self.properties!r}, body_type={self.body_type!r})"


def split_batch(message: Message) -> list[Message]:
    """The messages inside a batch (message-format 0x80013700): one per data section."""
    return [Message.decode(section) for section in message.data or ()]
