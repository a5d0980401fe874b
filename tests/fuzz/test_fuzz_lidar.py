"""Fuzz the LiDAR ``.pcd.bin`` reader: a valid sweep or sensorfuse's named error, never anything else.

class: undetected corruption. Mutations of a valid seed sweep: byte edits (flips, overwrites, truncations,
insertions, deletions, splices), arbitrary float32 values in any column (NaN, inf, huge, negative, fractional
rings) and files of another layout (3, 4 or 6 floats per point, KITTI's 4 among them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from binary_mutations import check_outcome, mutated
from fuzz_budget import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from sensorfuse.io.lidar_bin import LIDAR_FIELDS, MAX_RING, read_lidar_bin

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy warning may leak from the reader
N_SEED = 40


def _sweep(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cols = [rng.normal(0.0, 20.0, (n, 3)), rng.integers(0, 256, (n, 1)), rng.integers(0, 32, (n, 1))]
    return np.concatenate(cols, 1).astype("<f4")


SEED = _sweep(N_SEED).tobytes()


def _assert_valid(pts: np.ndarray, allow_empty: bool = False) -> None:
    """What the reader promises of a sweep it returns."""
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == len(LIDAR_FIELDS)
    assert allow_empty or len(pts) > 0
    assert np.isfinite(pts).all()
    ring = pts[:, 4]
    assert ((ring >= 0) & (ring <= MAX_RING) & (ring == np.rint(ring))).all()
    assert (pts[:, 3] >= 0).all()


def _read_both_ways(path: Path) -> None:
    pts = check_outcome(lambda: read_lidar_bin(path), path)
    if pts is not None:
        _assert_valid(pts)
    kept = check_outcome(lambda: read_lidar_bin(path, drop_nonfinite=True), path)
    if kept is not None:
        _assert_valid(kept[0], allow_empty=True)
        assert kept[1] >= 0 and len(kept[0]) + kept[1] == path.stat().st_size // 20


@FUZZ
@given(data=mutated(SEED, align=20))
def test_fuzz_lidar_bytes(tmp_path: Path, data: bytes) -> None:
    """class: undetected corruption. Byte-level mutations of a valid sweep."""
    p = tmp_path / "sweep.pcd.bin"
    p.write_bytes(data)
    _read_both_ways(p)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, N_SEED - 1), st.integers(0, 4), st.floats(width=32)), min_size=1, max_size=6
    )
)
def test_fuzz_lidar_values(tmp_path: Path, edits: list[tuple[int, int, float]]) -> None:
    """class: undetected corruption. Any float32 in any column of any point."""
    pts = _sweep(N_SEED)
    for row, col, value in edits:
        pts[row, col] = value
    p = tmp_path / "sweep.pcd.bin"
    p.write_bytes(pts.tobytes())
    _read_both_ways(p)


@FUZZ
@given(cols=st.sampled_from([3, 4, 6]), n=st.integers(1, 60), seed=st.integers(0, 2**16))
def test_fuzz_lidar_other_layouts(tmp_path: Path, cols: int, n: int, seed: int) -> None:
    """class: undetected corruption. Sweeps of 3, 4 (KITTI: intensity 0-1) or 6 floats per point."""
    rng = np.random.default_rng(seed)
    pts = np.concatenate([rng.normal(0.0, 15.0, (n, 3)), rng.uniform(0.0, 1.0, (n, cols - 3))], 1)
    p = tmp_path / "sweep.pcd.bin"
    p.write_bytes(pts.astype("<f4").tobytes())
    _read_both_ways(p)
