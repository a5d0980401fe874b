"""Hypothesis strategies that mutate a valid binary seed file: byte flips, overwrites, truncations, insertions,
deletions and spliced copies, some aimed at the regions that matter (a header, a size field).

``mutated(seed, regions)`` draws one to four edits and applies them in order; positions are drawn as integers
and taken modulo the current length, so every edit stays meaningful after the ones before it and hypothesis
shrinks a failure to a few small edits. ``regions`` are ``(start, end)`` byte ranges that positions favour
(half of the draws), e.g. a JPEG's segments before its scan or a PCD's text header. ``align`` (e.g. a record
size) makes half of the truncations, insertions and deletions whole records, so that a reader's size check does
not catch every length-changing edit and the values behind it get fuzzed too.

``check_outcome(fn, path)`` runs one reader call and allows only the two outcomes a reader may have: a result
(returned for the caller to validate) or sensorfuse's own error naming the file; anything else fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hypothesis import event
from hypothesis import strategies as st

from sensorfuse.errors import DataError, SensorfuseError

T = TypeVar("T")
Region = tuple[int, int]


def _position(draw: st.DrawFn, regions: Sequence[Region]) -> int:
    """A raw position: anywhere (taken modulo the length later), or inside one of ``regions``."""
    if regions and draw(st.booleans()):
        start, end = draw(st.sampled_from(list(regions)))
        return draw(st.integers(start, max(start, end - 1)))
    return draw(st.integers(0, 1 << 24))


def _length(draw: st.DrawFn, align: int, most: int) -> int:
    """A length for an insertion or deletion: 1 to ``most`` bytes, or (half of the draws) 1 to 4 records."""
    if align > 1 and draw(st.booleans()):
        return align * draw(st.integers(1, 4))
    return draw(st.integers(1, most))


@st.composite
def mutated(
    draw: st.DrawFn, seed: bytes, regions: Sequence[Region] = (), max_edits: int = 4, align: int = 1
) -> bytes:
    """``seed`` with 1 to ``max_edits`` random edits."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice"]))
        n = max(len(data), 1)
        i = _position(draw, regions) % n
        if kind in ("truncate", "insert", "delete") and align > 1 and draw(st.booleans()):
            i -= i % align
        if kind == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[i] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            size = _length(draw, align, 64)
            data[i:i] = draw(st.binary(min_size=size, max_size=size))
        elif kind == "delete":
            del data[i : i + _length(draw, align, 64)]
        elif kind == "splice" and data:
            j = _position(draw, regions) % n
            data[i:i] = data[j : j + _length(draw, align, 256)]
    return bytes(data)


def check_outcome(fn: Callable[[], T], path: Path) -> T | None:
    """``fn()``'s result, or None where it raised a SensorfuseError (a DataError must name ``path``).

    Any other exception propagates and fails the fuzz test. Each outcome is a hypothesis ``event`` (``make
    fuzz`` prints their shares with ``--hypothesis-show-statistics``).
    """
    try:
        out = fn()
    except DataError as e:
        assert str(path) in str(e), f"DataError does not name the file: {e}"
        event(f"DataError reason={e.reason} field={e.field}")
        return None
    except SensorfuseError as e:
        event(f"{type(e).__name__}")
        return None
    event("valid result")
    return out
