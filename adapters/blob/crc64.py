"""CRC-64 as Azure Storage computes it (x-ms-content-crc64): polynomial 0x9A6C9329AC4BC9B5,
reflected, initial value and final xor all ones (the CRC-64/NVME parameters)."""

from __future__ import annotations

_POLY = 0x9A6C9329AC4BC9B5
_MASK = 0xFFFFFFFFFFFFFFFF


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Continue a CRC over ``data`` (start from 0); the result is the finished value."""
    table = _TABLE
    value = crc ^ _MASK
    for byte in data:
        value = table[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value ^ _MASK


def crc64_bytes(value: int) -> bytes:
    """The 8 little-endian bytes Azure base64-encodes in the header."""
    return value.to_bytes(8, "little")
