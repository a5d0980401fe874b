"""voxelize: Numba backend == torch reference, plus the documented rules as properties."""

from __future__ import annotations

import math
from unittest import mock

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.ops import VoxelResult, _voxel_numba, voxelize

RANGE = (-2.0, -2.0, -1.0, 2.0, 2.0, 1.0)
VOXEL = (0.5, 0.5, 0.5)  # exact in binary: border points are exactly representable
PILLAR = (0.5, 0.5, 2.0)
FIELDS = ("voxels", "coords", "num_points", "point_to_voxel")
_EDGES = [-2.0, -1.5, -0.5, 0.0, 0.5, 1.0, 1.99, 2.0, 2.5, -2.01, math.nan, math.inf, -math.inf]
SPECIAL = [float(np.float32(v)) for v in _EDGES]  # borders, just inside/outside, non-finite


@pytest.fixture(params=["dense", "hashed"])
def grouping(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with both grouping paths of the Numba backend (dense table / bucketed hash tables)."""
    if request.param == "hashed":
        monkeypatch.setattr(_voxel_numba, "DENSE_MAX_CELLS", 0)
    return str(request.param)


def _cloud(rng: np.random.Generator, n: int, c: int = 5, dtype: type = np.float32) -> np.ndarray:
    pts = rng.uniform(-2.5, 2.5, (n, c)).astype(dtype)
    pts[: n // 4] = pts[n // 2 : n // 2 + n // 4]  # duplicates → over-full voxels
    return pts


def _assert_same(a: VoxelResult, b: VoxelResult) -> None:
    for f in FIELDS:
        x, y = np.asarray(getattr(a, f)), np.asarray(getattr(b, f))
        assert x.dtype == y.dtype and x.shape == y.shape, f
        np.testing.assert_array_equal(x, y, err_msg=f)
    assert a.num_nonfinite == b.num_nonfinite


def _expected_cell(p: np.ndarray) -> np.ndarray:
    lo, size = np.array(RANGE[:3]), np.array(VOXEL)
    return np.floor((p[:, :3].astype(np.float64) - lo) / size).astype(np.int64)


@pytest.mark.parametrize("mode", ["hard", "dynamic"])
@pytest.mark.parametrize("size", [VOXEL, PILLAR, (0.3, 0.1, 0.25)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_equals_reference(
    mode: str, size: tuple[float, float, float], dtype: type, grouping: str
) -> None:
    pts = _cloud(np.random.default_rng(1), 3000, dtype=dtype)
    pts[10, 2] = np.nan
    pts[11, 4] = np.inf
    rng = (-1.5, -2.0, -1.0, 1.5, 2.0, 1.0)
    a = voxelize(pts, size, rng, 4, 40, mode=mode, backend="numba")
    b = voxelize(pts, size, rng, 4, 40, mode=mode, backend="reference")
    _assert_same(a, b)
    assert a.num_nonfinite == 2
    assert a.voxels.dtype == dtype and a.coords.dtype == np.int32 and a.point_to_voxel.dtype == np.int64


def test_large_cloud_many_buckets_equals_reference(grouping: str) -> None:
    pts = _cloud(np.random.default_rng(2), 40_000)
    a = voxelize(pts, (0.1, 0.1, 0.1), (-2, -2, -2, 2, 2, 2), 3, 10_000, backend="numba")
    b = voxelize(pts, (0.1, 0.1, 0.1), (-2, -2, -2, 2, 2, 2), 3, 10_000, backend="reference")
    _assert_same(a, b)
    assert a.num_voxels == 10_000  # the cap is reached


@pytest.mark.parametrize(
    "size, rng",
    [
        (VOXEL, RANGE),  # a small grid: the vectorised key kernel
        (
            (0.01, 0.01, 0.01),
            (-2000.0, -2000.0, -10.0, 2000.0, 2000.0, 10.0),
        ),  # 3.2e14 cells: int64 scalar keys
    ],
)
def test_keys_of_small_and_huge_grids_equal_reference(size: tuple, rng: tuple) -> None:
    pts = _cloud(np.random.default_rng(5), 5000) * np.float32(700.0 if rng[3] > 100 else 1.0)
    pts[:6, :3] = [[1e30, 0, 0], [-1e30, 0, 0], [0, 3e38, 0], [0, 0, -3e38], [0, 0, 0], [0, 0, 0]]
    pts[5, 4] = np.nan  # a non-finite feature column drops the point too
    a = voxelize(pts, size, rng, mode="dynamic", backend="numba")
    b = voxelize(pts, size, rng, mode="dynamic", backend="reference")
    _assert_same(a, b)
    np.testing.assert_array_equal(a.point_to_voxel[:4], [-1, -1, -1, -1])  # huge but finite: out of range
    assert a.point_to_voxel[4] >= 0 and a.point_to_voxel[5] == -1 and a.num_nonfinite == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(0.2, 0.075, 0.2), (0.1, 0.15, 8.0)])
def test_points_on_and_next_to_inexact_borders_equal_reference(size: tuple, dtype: type) -> None:
    """Cell sizes that binary floats cannot hold: the key pass multiplies by 1 / size and redoes a block's axis
    with the division where a product lies within a few ulps of an integer — every border and its neighbours
    (1-3 ulps either side) must bin as the reference's division does."""
    rng = (-54.0, -54.0, -5.0, 54.0, 54.0, 3.0)
    cols = []
    for a in range(3):
        n = round((rng[a + 3] - rng[a]) / size[a])
        border = rng[a] + np.arange(n + 1) * size[a]
        vals = np.concatenate([border + k * np.spacing(border) for k in range(-3, 4)]).astype(dtype)
        cols.append(vals)
    m = max(len(c) for c in cols)
    pts = np.stack([np.resize(c, m) for c in cols] + [np.zeros(m, dtype)] * 2, axis=1)
    a = voxelize(pts, size, rng, mode="dynamic", backend="numba")
    b = voxelize(pts, size, rng, mode="dynamic", backend="reference")
    _assert_same(a, b)
    q = np.floor((pts[:, :3].astype(np.float64) - np.array(rng[:3])) / np.array(size))
    inside = np.all((q >= 0) & (q < np.round((np.array(rng[3:]) - rng[:3]) / size)), axis=1)
    assert np.array_equal(a.point_to_voxel >= 0, inside) and inside.mean() > 0.3


def test_torch_in_torch_out_and_contents() -> None:
    pts = torch.from_numpy(_cloud(np.random.default_rng(3), 500))
    r = voxelize(pts, VOXEL, RANGE, 3, 1000)
    assert isinstance(r.voxels, torch.Tensor) and r.voxels.device == pts.device
    kept = torch.nonzero(r.point_to_voxel >= 0).flatten()
    for v in range(r.num_voxels):
        members = kept[r.point_to_voxel[kept] == v]
        n = int(r.num_points[v])
        assert n == len(members) <= 3
        torch.testing.assert_close(r.voxels[v, :n], pts[members])  # input order inside a voxel
        assert torch.all(r.voxels[v, n:] == 0)


def test_first_seen_order_and_caps(grouping: str) -> None:
    pts = np.array(
        [
            [0.1, 0.1, 0.1],
            [-1.9, 0.1, 0.1],
            [0.2, 0.2, 0.2],
            [0.3, 0.3, 0.3],
            [1.9, 1.9, 0.9],
            [-1.8, 0.2, 0.2],
        ],
        dtype=np.float32,
    )
    r = voxelize(pts, VOXEL, RANGE, max_points=2, max_voxels=2)
    np.testing.assert_array_equal(r.point_to_voxel, [0, 1, 0, -1, -1, 1])
    np.testing.assert_array_equal(r.coords, [[2, 4, 4], [2, 4, 0]])  # (z, y, x)
    np.testing.assert_array_equal(r.num_points, [2, 2])
    np.testing.assert_array_equal(r.voxels[0], pts[[0, 2]])


def test_border_rule() -> None:
    # on min → cell 0; on an inner border → the cell above; on max → dropped
    pts = np.array([[-2.0, -2.0, -1.0], [0.5, 0.0, -0.5], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    r = voxelize(pts, VOXEL, RANGE, mode="dynamic")
    np.testing.assert_array_equal(r.point_to_voxel, [0, 1, -1, -1])
    np.testing.assert_array_equal(r.coords, [[0, 0, 0], [1, 4, 5]])


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_empty_input(backend: str) -> None:
    r = voxelize(np.zeros((0, 4), np.float32), VOXEL, RANGE, 5, 10, backend=backend)
    assert r.voxels.shape == (0, 5, 4) and r.coords.shape == (0, 3) and r.point_to_voxel.shape == (0,)
    assert r.num_nonfinite == 0


def test_all_dropped() -> None:
    pts = np.array([[9.0, 0, 0], [np.nan, 0, 0], [0, -np.inf, 0]], np.float32)
    r = voxelize(pts, VOXEL, RANGE, 5, 10)
    assert r.num_voxels == 0 and r.num_nonfinite == 2
    np.testing.assert_array_equal(r.point_to_voxel, [-1, -1, -1])


def test_result_independent_of_thread_count(grouping: str) -> None:
    pts = _cloud(np.random.default_rng(4), 50_000)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = voxelize(pts, (0.05, 0.05, 0.1), (-2, -2, -2, 2, 2, 2), 5, 30_000, backend="numba")
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = voxelize(pts, (0.05, 0.05, 0.1), (-2, -2, -2, 2, 2, 2), 5, 30_000, backend="numba")
    finally:
        numba.set_num_threads(before)
    _assert_same(one, many)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_points_after_the_voxel_cap_equal_reference(threads: int, grouping: str) -> None:
    """Hard mode stops opening voxels at max_voxels; the dense path then counts the remaining points in
    parallel segments. Few cells, many repeats: voxels fill past max_points across segment borders."""
    rng = np.random.default_rng(6)
    pts = rng.uniform(-2.0, 2.0, (30_000, 4)).astype(np.float32)
    pts[5000:, :3] = pts[rng.integers(0, 40, 25_000), :3]  # after point 5000 only the first 40 points' cells
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        for p_cap in (1, 600, 5000):
            a = voxelize(pts, VOXEL, RANGE, p_cap, 20, backend="numba")
            b = voxelize(pts, VOXEL, RANGE, p_cap, 20, backend="reference")
            _assert_same(a, b)
            assert a.num_voxels == 20
            assert (a.point_to_voxel[5000:] >= 0).any() == (p_cap > 1)  # tail points fill the open voxels
            assert (a.num_points == p_cap).any() == (p_cap < 625)  # ~625 points a cell: capped below that
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("v_cap", [300, 20_000, 100_000])  # cap reached in chunk 0, in a later chunk, never
def test_dense_keys_beside_the_head_equal_reference(threads: int, v_cap: int) -> None:
    """On the dense path the key pass runs beside the serial head (the two threads meet somewhere in the
    chunks; the head computes a chunk's keys itself where they are not ready). Over many chunks, non-finite and
    out-of-range points spread through them, the output and the counts are the reference's for any thread
    count and wherever the head stops."""
    rng = np.random.default_rng(12)
    n = 9 * _voxel_numba._CHUNK + 123  # ten chunks, the last one short
    pts = rng.uniform(-2.2, 2.2, (n, 4)).astype(np.float32)
    pts[rng.integers(0, n, 40), rng.integers(0, 4, 40)] = np.nan
    pts[rng.integers(0, n, 40), 1] = np.inf
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        a = voxelize(pts, (0.02, 0.02, 2.0), RANGE, 3, v_cap, backend="numba")
    finally:
        numba.set_num_threads(before)
    b = voxelize(pts, (0.02, 0.02, 2.0), RANGE, 3, v_cap, backend="reference")
    _assert_same(a, b)
    assert a.num_nonfinite == int((~np.isfinite(pts)).any(axis=1).sum()) > 0
    assert (a.num_voxels == v_cap) == (v_cap < 100_000)


def test_few_voxels_do_not_keep_the_whole_buffer(grouping: str) -> None:
    """The output buffer is sized before grouping (min(max_voxels, kept points) rows); a result with far
    fewer voxels is returned as its own array, not as a view that keeps the whole buffer alive."""
    pts = np.repeat(_cloud(np.random.default_rng(10), 10), 3000, axis=0)  # 30k points, at most 10 voxels
    r = voxelize(pts, VOXEL, RANGE, 4, 20_000, backend="numba")
    assert r.num_voxels <= 10 and r.voxels.shape == (r.num_voxels, 4, 5)
    assert r.voxels.base is None or r.voxels.base.nbytes == r.voxels.nbytes
    _assert_same(r, voxelize(pts, VOXEL, RANGE, 4, 20_000, backend="reference"))


def test_coords_of_keys_beyond_2_53_equal_reference() -> None:
    """Keys of a 1.8e18-cell grid exceed float64's exact integers: coords are decoded by integer division."""
    rng_ = (-3000.0, -3000.0, -1000.0, 3000.0, 3000.0, 1000.0)
    pts = np.random.default_rng(7).uniform(-2999, 2999, (2000, 3))
    pts[:, 2] = np.random.default_rng(8).uniform(990, 999.99, 2000)  # top layers: keys > 2**60
    a = voxelize(pts, (0.002, 0.002, 0.01), rng_, mode="dynamic", backend="numba")
    b = voxelize(pts, (0.002, 0.002, 0.01), rng_, mode="dynamic", backend="reference")
    _assert_same(a, b)
    assert a.num_voxels == 2000


def test_divmod_equals_integer_division() -> None:
    rng = np.random.default_rng(9)
    ks = np.concatenate([rng.integers(0, 2**62, 3000), rng.integers(0, 2**31, 3000), [0, 2**53 - 1, 2**53]])
    ds = np.concatenate([rng.integers(1, 2**31, 3000), rng.integers(1, 50, 3000), [1, 3, 7]])
    for k, d in zip(ks.tolist(), ds.tolist()):
        assert _voxel_numba._divmod(k, d) == (k // d, k % d), (k, d)


coords = st.one_of(st.sampled_from(SPECIAL), st.floats(-2.5, 2.5, width=32))


@settings(max_examples=40, deadline=None)
@given(pts=arrays(np.float32, st.tuples(st.integers(0, 60), st.just(4)), elements=coords))
def test_property_every_finite_in_range_point_in_exactly_one_voxel(pts: np.ndarray) -> None:
    r = voxelize(pts, VOXEL, RANGE, mode="dynamic")
    finite = np.isfinite(pts).all(axis=1)
    assert r.num_nonfinite == int((~finite).sum())
    cell = _expected_cell(np.where(finite[:, None], pts, 0))
    inside = finite & ((pts[:, :3] >= RANGE[:3]) & (pts[:, :3] < RANGE[3:])).all(axis=1)
    np.testing.assert_array_equal(r.point_to_voxel >= 0, inside)
    zyx = r.coords[r.point_to_voxel[inside]]
    np.testing.assert_array_equal(zyx, cell[inside][:, ::-1])
    assert len({tuple(c) for c in r.coords}) == r.num_voxels  # each voxel once
    assert r.num_points.sum() == inside.sum()
    _assert_same(r, voxelize(pts, VOXEL, RANGE, mode="dynamic", backend="reference"))


@settings(max_examples=40, deadline=None)
@given(
    pts=arrays(np.float32, st.tuples(st.integers(0, 80), st.just(3)), elements=st.sampled_from(SPECIAL[:9])),
    max_points=st.integers(1, 4),
    max_voxels=st.integers(1, 6),
    hashed=st.booleans(),
)
def test_property_capacity_limits(pts: np.ndarray, max_points: int, max_voxels: int, hashed: bool) -> None:
    with mock.patch.object(_voxel_numba, "DENSE_MAX_CELLS", 0 if hashed else _voxel_numba.DENSE_MAX_CELLS):
        r = voxelize(pts, VOXEL, RANGE, max_points, max_voxels, backend="numba")
    dyn = voxelize(pts, VOXEL, RANGE, mode="dynamic")
    assert r.num_voxels == min(max_voxels, dyn.num_voxels)
    assert np.all(r.num_points <= max_points) and np.all(r.num_points >= 1)
    np.testing.assert_array_equal(r.coords, dyn.coords[: r.num_voxels])
    np.testing.assert_array_equal(r.num_points, np.minimum(dyn.num_points[: r.num_voxels], max_points))
    kept = r.point_to_voxel >= 0
    assert np.all(dyn.point_to_voxel[kept] == r.point_to_voxel[kept])
    assert kept.sum() == r.num_points.sum()
    _assert_same(r, voxelize(pts, VOXEL, RANGE, max_points, max_voxels, backend="reference"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"points": np.zeros((5, 2), np.float32)}, DataError, r"\[points\].*shape"),
        ({"points": np.zeros((5, 3), np.int32)}, DataError, r"float32 or float64"),
        ({"points": [[0.0, 0.0, 0.0]]}, DataError, r"numpy array or torch tensor"),
        ({"voxel_size": (0.3, 0.5, 0.5)}, ConfigError, r"whole number of voxel_size\[x\]"),
        ({"voxel_size": (0.5, -0.5, 0.5)}, ConfigError, r"voxel_size\[y\] must be > 0"),
        ({"voxel_size": (0.5, np.nan, 0.5)}, ConfigError, r"finite"),
        ({"point_range": (2, -2, -1, -2, 2, 1)}, ConfigError, r"xmax must exceed xmin"),
        ({"max_points": None}, ConfigError, r"max_points must be an integer"),
        ({"max_voxels": 0}, ConfigError, r"max_voxels"),
        ({"mode": "soft"}, ConfigError, r"mode must be one of"),
        ({"backend": "gpu"}, ConfigError, r"backend must be one of"),
        ({"backend": "cuda"}, ConfigError, r"needs a CUDA tensor"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict, error: type, match: str) -> None:
    args = {"points": np.zeros((5, 3), np.float32), "voxel_size": VOXEL, "point_range": RANGE}
    args |= {"max_points": 2, "max_voxels": 4}
    args |= kwargs
    with pytest.raises(error, match=match):
        voxelize(**args)
