"""The fixed-width layouts of AMQP's primitive types on the wire (network byte order), and the
epoch its timestamps count from: shared by the decoder and the encoder."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

I8 = struct.Struct(">b")
U16 = struct.Struct(">H")
I16 = struct.Struct(">h")
U32 = struct.Struct(">I")
I32 = struct.Struct(">i")
U64 = struct.Struct(">Q")
I64 = struct.Struct(">q")
F32 = struct.Struct(">f")
F64 = struct.Struct(">d")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
