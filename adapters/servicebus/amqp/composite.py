"""Composite types: described lists with named, typed fields (performatives, outcomes, terminus).

A subclass lists its fields once (name, wire encoder, default, multiplicity) and gets a
keyword constructor, decoding from the described list (registered with the decoder, so
decoding any value that contains one yields the instance), encoding with trailing absent
fields left out, equality and a repr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from . import decoding, encoding
from .errors import AmqpError, DecodeError
from .types import Array


class Field(NamedTuple):
    name: str
    encoder: encoding.Encoder
    """Writes a value that is not ``None`` (``None`` is always sent as null)."""
    default: Any = None
    multiple: bool = False
    """A symbol field that may hold several values: sent as an array, decoded to a list always."""


def _encode_symbols(out: bytearray, value: Any) -> None:
    if isinstance(value, str):
        encoding.encode_symbol(out, value)
    else:
        encoding.encode_array(out, value if isinstance(value, Array) else Array("symbol", value))


def encode_any(out: bytearray, value: Any) -> None:
    encoding.encode_value(out, value)


def encode_message_id(out: bytearray, value: Any) -> None:
    """message-id-ulong, -uuid, -binary or -string: a plain int is the ulong form."""
    if type(value) is int:
        encoding.encode_ulong(out, value)
    else:
        encoding.encode_value(out, value)


# Field encoders: a field that is ``None`` is written as null before its encoder is consulted.
SYMBOL = encoding.encode_symbol
SYMBOLS = _encode_symbols
STRING = encoding.encode_string
BINARY = encoding.encode_binary
BOOLEAN = encoding.encode_boolean
UBYTE = encoding.encode_ubyte
USHORT = encoding.encode_ushort
UINT = encoding.encode_uint
ULONG = encoding.encode_ulong
TIMESTAMP = encoding.encode_timestamp
FIELDS = encoding.encode_fields
ANY = encode_any
MESSAGE_ID = encode_message_id


class Composite:
    """Base of the described-list types. Subclasses set DESCRIPTOR, NAME and FIELDS."""

    DESCRIPTOR: ClassVar[int]
    NAME: ClassVar[str]
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    _prefix: ClassVar[bytes]
    _names: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[tuple[Any, ...]]
    _default_values: ClassVar[dict[str, Any]]
    _multiple: ClassVar[tuple[str, ...]]
    _padding: ClassVar[list[None]]
    _nullable_defaults: ClassVar[tuple[tuple[str, Any], ...]]
    _encoders: ClassVar[tuple[encoding.Encoder, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._names = tuple(f.name for f in cls.FIELDS)
        cls._defaults = tuple(f.default for f in cls.FIELDS)
        cls._default_values = dict(zip(cls._names, cls._defaults, strict=True))
        cls._multiple = tuple(f.name for f in cls.FIELDS if f.multiple)
        cls._padding = [None] * len(cls.FIELDS)
        cls._nullable_defaults = tuple((f.name, f.default) for f in cls.FIELDS if f.default is not None)
        cls._encoders = tuple(f.encoder for f in cls.FIELDS)
        prefix = bytearray()
        encoding.encode_descriptor(prefix, cls.DESCRIPTOR)
        cls._prefix = bytes(prefix)
        decoding.register_described(cls.from_fields, cls.DESCRIPTOR, cls.NAME)
        encoding.register_encodable(cls)

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - self._default_values.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        self.__dict__.update(self._default_values)
        self.__dict__.update(values)

    @classmethod
    def from_fields(cls, values: Any) -> Any:
        """Build from a decoded described value: a list, shorter than FIELDS when trailing fields are absent.

        Fields beyond ours (a later version of the spec) are ignored; null reads as the default.
        """
        if not isinstance(values, list):
            raise DecodeError(f"{cls.NAME} is a list, not {type(values).__name__}")
        self = cls.__new__(cls)
        names = cls._names
        if not names:  # accepted, released: one per settlement
            self.__dict__ = {}
            return self
        if len(values) < len(names):
            values = values + cls._padding[len(values) :]
        # zip stops at our last field: a newer peer's extra fields are dropped (and a keyword costs ~0.7 us)
        fields = dict(zip(names, values))  # noqa: B905
        for name, default in cls._nullable_defaults:
            if fields[name] is None:
                fields[name] = default
        for name in cls._multiple:
            value = fields[name]
            if value is not None and not isinstance(value, list):
                fields[name] = [value]
        self.__dict__ = fields
        return self

    def encode_into(self, out: bytearray) -> None:
        """Absent (``None``) trailing fields are left out; fields holding their default are written.

        The spec would allow leaving defaults out too, but the SDK reads an omitted
        message-header field as ``None`` rather than its default (a missing delivery-count
        would reach applications as ``None``).
        """
        fields = self.__dict__
        values = [fields[name] for name in self._names]
        last = len(values)
        while last and values[last - 1] is None:
            last -= 1
        out += self._prefix
        if not last:
            out.append(0x45)
            return
        body = bytearray()
        for encoder, value in zip(self._encoders, values[:last], strict=False):
            if value is None:
                body.append(0x40)
            else:
                encoder(body, value)
        encoding.write_compound(out, body, last, 0xC0, 0xD0)

    def encode(self) -> bytes:
        out = bytearray()
        self.encode_into(out)
        return bytes(out)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._names)

    def __repr__(self) -> str:
        values = ((n, getattr(self, n), d) for n, d in zip(self._names, self._defaults, strict=True))
        shown = ", ".join(f"{n}={v!r}" for n, v, d in values if v != d)
        return f"{type(self).__name__}({shown})"


def _error_from_fields(values: Any) -> AmqpError:
    if not isinstance(values, list) or not values or not isinstance(values[0], str):
        raise DecodeError("an error needs a condition symbol")
    description = values[1] if len(values) > 1 else None
    info = values[2] if len(values) > 2 else None
    return AmqpError(values[0], description, info)


_ERROR_PREFIX = bytearray()
encoding.encode_descriptor(_ERROR_PREFIX, 0x1D)


def _encode_error(out: bytearray, error: AmqpError) -> None:
    """All three fields, even null ones: the SDK indexes ``error[2]`` of a rejected send unguarded,
    and a shorter list leaves its sender waiting forever."""
    body = bytearray()
    encoding.encode_symbol(body, error.condition)
    if error.description is None:
        body.append(0x40)
    else:
        encoding.encode_string(body, error.description)
    encoding.encode_fields(body, error.info)
    out += _ERROR_PREFIX
    encoding.write_compound(out, body, 3, 0xC0, 0xD0)


decoding.register_described(_error_from_fields, 0x1D, "amqp:error:list")
encoding.ENCODERS[AmqpError] = _encode_error
ERROR: Callable[[bytearray, Any], None] = _encode_error
