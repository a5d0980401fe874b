"""Fuzz the radar PCD reader: valid radar points or sensorfuse's named error, never anything else.

class: undetected corruption. Mutations of a valid seed file: byte edits (half of them in the text header),
header edits (a token of any header line replaced: counts, sizes, types, field names, numbers, junk) and
arbitrary values in any field of any record (NaN, inf, out-of-range codes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from binary_mutations import check_outcome, mutated
from fuzz_budget import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from sensorfuse.io.radar_pcd import (
    AMBIG_STATE,
    DYN_PROP,
    INVALID_STATE,
    PLAUSIBLE,
    RADAR_DTYPE,
    RADAR_FIELDS,
    encode_radar_pcd,
    read_radar_pcd,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy warning may leak from the reader
N_SEED = 8


def _points(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    pts = np.zeros((n, len(RADAR_FIELDS)))
    pts[:, 0], pts[:, 1] = rng.uniform(2.0, 80.0, n), rng.uniform(-20.0, 20.0, n)
    pts[:, RADAR_FIELDS.index("rcs")] = rng.uniform(-5.0, 30.0, n)
    pts[:, RADAR_FIELDS.index("vx_comp")] = rng.normal(0.0, 5.0, n)
    pts[:, RADAR_FIELDS.index("is_quality_valid")] = 1
    pts[:, AMBIG_STATE] = 3
    pts[:, DYN_PROP] = rng.integers(0, 8, n)
    pts[:, INVALID_STATE] = rng.choice([0, 0, 0, 4, 17], n)
    pts[:, RADAR_FIELDS.index("x_rms")] = rng.integers(0, 32, n)
    return pts


SEED = encode_radar_pcd(_points(N_SEED))
HEADER_END = SEED.index(b"DATA binary\n") + len(b"DATA binary\n")
HEADER = SEED[:HEADER_END].decode("ascii").splitlines()
TOKENS = st.one_of(
    st.sampled_from(
        ["0", "1", "-1", "2", "3", "4", "7", "8", "9", "43", "1e3", "0x10", "99999999999", "nan"]
    ),
    st.sampled_from(
        ["F", "I", "U", "x", "id", "rcs", "pdh0", "binary", "ascii", "binary_compressed", "WIDTH"]
    ),
    st.text(max_size=6),
)


def _assert_valid(pts: np.ndarray, filtered: bool) -> None:
    """What the reader promises of the points it returns."""
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == len(RADAR_FIELDS)
    assert np.isfinite(pts).all()
    for i, name in enumerate(RADAR_FIELDS):
        lo, hi = PLAUSIBLE[name]
        assert ((pts[:, i] >= lo) & (pts[:, i] <= hi)).all(), name
    if filtered:  # the devkit's default filters
        assert (pts[:, INVALID_STATE] == 0).all() and (pts[:, DYN_PROP] <= 6).all()
        assert (pts[:, AMBIG_STATE] == 3).all()


def _read_both_ways(path: Path) -> None:
    pts = check_outcome(lambda: read_radar_pcd(path), path)
    if pts is not None:
        _assert_valid(pts, filtered=True)
    raw = check_outcome(lambda: read_radar_pcd(path, None, None, None), path)
    if raw is not None:
        _assert_valid(raw, filtered=False)


@FUZZ
@given(data=mutated(SEED, regions=[(0, HEADER_END)]))
def test_fuzz_radar_bytes(tmp_path: Path, data: bytes) -> None:
    """class: undetected corruption. Byte-level mutations, half of them in the header."""
    p = tmp_path / "radar.pcd"
    p.write_bytes(data)
    _read_both_ways(p)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(HEADER) - 1), st.integers(0, len(RADAR_FIELDS)), TOKENS),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_radar_header(tmp_path: Path, edits: list[tuple[int, int, str]]) -> None:
    """class: undetected corruption. One token of a header line replaced (or appended), the data untouched."""
    lines = [line.split(" ") for line in HEADER]
    for li, ti, token in edits:
        words = lines[li]
        if ti < len(words):
            words[ti] = token
        else:
            words.append(token)
    header = "\n".join(" ".join(w) for w in lines) + "\n"
    p = tmp_path / "radar.pcd"
    p.write_bytes(header.encode("utf-8") + SEED[HEADER_END:])
    _read_both_ways(p)


def _field_value(name: str) -> st.SearchStrategy[float]:
    kind = RADAR_DTYPE[name]
    if kind.kind == "f":
        return st.floats(width=32)
    info = np.iinfo(kind)
    return st.integers(int(info.min), int(info.max)).map(float)


@FUZZ
@given(data=st.data())
def test_fuzz_radar_values(tmp_path: Path, data: st.DataObject) -> None:
    """class: undetected corruption. Any value of its type in any field of any record."""
    pts = _points(N_SEED)
    for _ in range(data.draw(st.integers(1, 4))):
        row = data.draw(st.integers(0, N_SEED - 1))
        name = data.draw(st.sampled_from(RADAR_FIELDS))
        pts[row, RADAR_FIELDS.index(name)] = data.draw(_field_value(name))
    p = tmp_path / "radar.pcd"
    p.write_bytes(encode_radar_pcd(pts))
    _read_both_ways(p)
