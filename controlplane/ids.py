"""Identifiers that must be unique, not secret.

``uuid.uuid4()`` reads ``os.urandom``: a syscall per call, tens of microseconds in a VM.
Request ids, message ids and pop receipts are made on every request, so they come from
a Mersenne Twister seeded once from the OS instead.
"""

from __future__ import annotations

import random

_bits = random.Random().getrandbits
_VARIANT = "89ab"


def new_guid() -> str:
    """A random (version 4) GUID in Azure's lower-case 8-4-4-4-12 form."""
    h = f"{_bits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def random_bytes(count: int) -> bytes:
    return _bits(count * 8).to_bytes(count, "little")
