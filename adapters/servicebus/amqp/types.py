"""Python values for AMQP types that plain Python types cannot express.

Decoding maps AMQP values onto plain Python values wherever that loses nothing the
broker needs (every integer type becomes ``int``, string ``str``, binary ``bytes``,
timestamp an aware UTC ``datetime``). Encoding needs more: a handle is a ``uint`` on
the wire, a lock token annotation a ``long``, a capability a ``symbol``. The wrappers
here are subclasses of the plain types, so a decoded or wrapped value compares, hashes
and formats like the plain one and only the encoder looks at the difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Symbol(str):
    """An AMQP ``symbol`` (ASCII): capabilities, error conditions, annotation keys, descriptors."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class UByte(int):
    __slots__ = ()


class UShort(int):
    __slots__ = ()


class UInt(int):
    __slots__ = ()


class ULong(int):
    __slots__ = ()


class Byte(int):
    __slots__ = ()


class Short(int):
    __slots__ = ()


class Int(int):
    __slots__ = ()


class Long(int):
    """A signed 64-bit ``long``: Service Bus's sequence numbers and ``x-opt-*`` counters are longs."""

    __slots__ = ()


class Float(float):
    """A 32-bit IEEE 754 ``float`` (a plain Python float encodes as ``double``)."""

    __slots__ = ()


class Char(str):
    """An AMQP ``char``: one Unicode code point, sent as UTF-32."""

    __slots__ = ()


class Decimal(bytes):
    """An AMQP decimal32/64/128, kept as its 4, 8 or 16 IEEE 754 bytes.

    Service Bus never interprets decimals, so they are carried opaque: what a client
    sends is what a receiver gets.
    """

    __slots__ = ()

    def __new__(cls, raw: bytes) -> Decimal:
        if len(raw) not in (4, 8, 16):
            raise ValueError(f"a decimal is 4, 8 or 16 bytes, not {len(raw)}")
        return super().__new__(cls, raw)


class Described:
    """A described value whose descriptor has no class of its own here (e.g. a filter)."""

    __slots__ = ("descriptor", "value")

    def __init__(self, descriptor: int | str, value: Any) -> None:
        self.descriptor = descriptor
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Described) and self.descriptor == other.descriptor and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.descriptor, repr(self.value)))

    def __repr__(self) -> str:
        return f"Described({self.descriptor!r}, {self.value!r})"


ARRAY_ELEMENT_TYPES = frozenset(
    {"symbol", "string", "binary", "uuid", "boolean", "ubyte", "ushort", "uint", "ulong", "byte", "short", "int"}
    | {"long", "float", "double", "timestamp", "char"}
)


class Array(list):  # type: ignore[type-arg]
    """An AMQP ``array``: every element has the same type, named by ``element_type``.

    A ``list`` encodes each element with its own constructor; an array shares one. The
    distinction matters to peers: Service Bus's management operations take arrays
    (``lock-tokens`` is an array of uuid), and capabilities are arrays of symbols.
    """

    __slots__ = ("element_type",)

    def __init__(self, element_type: str, items: Iterable[Any] = ()) -> None:
        if element_type not in ARRAY_ELEMENT_TYPES:
            raise ValueError(f"unsupported array element type {element_type!r}")
        super().__init__(items)
        self.element_type = element_type

    def __repr__(self) -> str:
        return f"Array({self.element_type!r}, {list.__repr__(self)})"


def symbols(values: Iterable[str] | str | None) -> Array | None:
    """A symbol array from names (or one name), the form capabilities and outcomes are sent in."""
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    return Array("symbol", (Symbol(v) for v in values))
