"""The order in which Azure Storage sorts ``x-ms-*`` headers for Shared Key.

The service sorts canonicalized headers with a culture-aware collation in which '-' and "'" only
break ties, not the plain ordinal order the specification describes; the Python storage SDKs sign
in that collation (``_storage_header_sort``). The weights below are those of the collation for the
printable ASCII characters; any other character weighs nothing at the first level.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cmp_to_key

_PRIMARY: dict[str, int] = {
    "!": 0x71C, "#": 0x71F, "$": 0x721, "%": 0x723, "&": 0x725, "*": 0x72D, "+": 0x803, ".": 0x733,
    "^": 0x743, "_": 0x744, "`": 0x748, "|": 0x74C, "~": 0x750,
    "0": 0xD03, "1": 0xD1A, "2": 0xD1C, "3": 0xD1E, "4": 0xD20,
    "5": 0xD22, "6": 0xD24, "7": 0xD26, "8": 0xD28, "9": 0xD2A,
    "a": 0xE02, "b": 0xE09, "c": 0xE0A, "d": 0xE1A, "e": 0xE21, "f": 0xE23, "g": 0xE25,
    "h": 0xE2C, "i": 0xE32, "j": 0xE35, "k": 0xE36, "l": 0xE48, "m": 0xE51, "n": 0xE70,
    "o": 0xE7C, "p": 0xE7E, "q": 0xE89, "r": 0xE8A, "s": 0xE91, "t": 0xE99, "u": 0xE9F,
    "v": 0xEA2, "w": 0xEA4, "x": 0xEA6, "y": 0xEA7, "z": 0xEA9,
}  # fmt: skip
_PRIMARY.update({c.upper(): w for c, w in _PRIMARY.items() if c.isalpha()})
_SECONDARY: dict[str, int] = {"'": 0x8012, "-": 0x8212}
_END = 0x1


def compare(lhs: str, rhs: str) -> int:
    """-1, 0 or 1 as ``lhs`` sorts before, with or after ``rhs`` in the service's collation."""
    levels = (_PRIMARY, _SECONDARY)
    level, i, j = 0, 0, 0
    while level < len(levels):
        # At the last level only the position where the strings diverged decides.
        if level == len(levels) - 1 and i != j:
            return -1 if i > j else 1
        weights = levels[level]
        w1 = weights.get(lhs[i], 0) if i < len(lhs) else _END
        w2 = weights.get(rhs[j], 0) if j < len(rhs) else _END
        if w1 == _END and w2 == _END:
            i = j = 0
            level += 1
        elif w1 == w2:
            i += 1
            j += 1
        elif w1 == 0:
            i += 1
        elif w2 == 0:
            j += 1
        else:
            return -1 if w1 < w2 else 1
    return 0


def collated(names: Iterable[str]) -> list[str]:
    """``names`` sorted in the service's collation."""
    return sorted(names, key=cmp_to_key(compare))
