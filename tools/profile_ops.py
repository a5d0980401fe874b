"""Per-phase timing of the Numba kernels on the ops-benchmark inputs (where the time goes, not a comparison).

    .venv/bin/python tools/profile_ops.py [--cold]

``--cold`` evicts the caches (a 128 MB write) before every timed call: the state the benchmark's interleaved
rounds leave each implementation in, where the back-to-back default keeps inputs and tables cache resident.

voxelize: key computation, grouping (dense table or hashed buckets + rank), output fill; bev_pool: the counting
sort, the tiled forward kernel and the whole op (forward, no autograd graph). Medians of repeated calls in one
process (back to back unless ``--cold``); run on a quiet machine.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from sensorfuse.bench.ops import lss_geometry, realistic_cloud, uniform_cloud
from sensorfuse.ops import _bev_numba as bn
from sensorfuse.ops import _voxel_numba as vn
from sensorfuse.ops import bev_pool, voxelize
from sensorfuse.ops._grid import make_grid

RANGE = (-54.0, -54.0, -5.0, 54.0, 54.0, 3.0)
GRIDS = {"voxels 0.075": ((0.075, 0.075, 0.2), 10, 120_000), "pillars 0.2": ((0.2, 0.2, 8.0), 32, 40_000)}


COLD = False  # --cold: evict the caches before every timed call, as a peer's run does in the benchmark
_EVICT = np.ones(16 * 2**20)  # 128 MB: 4x the last-level cache


def median_ms(fn: Callable[..., object], *args: object, reps: int = 30) -> float:
    """Median wall time of ``fn(*args)`` in ms, after one warm-up call."""
    fn(*args)
    times = []
    for _ in range(reps):
        if COLD:
            np.add(_EVICT, 1.0, out=_EVICT)
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _keys(*args: object) -> None:
    args[-1].fill(0)  # type: ignore[attr-defined]  # the histogram accumulates: clear it every call
    vn._keys(*args)


def _emit_fresh(pts: np.ndarray, nv: int, p_cap: int, *rest: object) -> None:
    """``_emit`` into a freshly allocated voxel array, as ``voxelize`` does."""
    keys, group, rank, nx, ny, coords, num, p2v = rest
    voxels = np.empty((nv, p_cap, pts.shape[1]), pts.dtype)
    vn._emit(pts, keys, group, rank, nx, ny, p_cap, voxels, coords, num, p2v)


def profile_voxelize(name: str, pts: np.ndarray) -> None:
    n = pts.shape[0]
    for gname, (size, p_cap, v_cap) in GRIDS.items():
        grid = make_grid(size, RANGE)
        dense = grid.num_cells <= vn.DENSE_MAX_CELLS
        bits = 0 if dense else max(0, math.ceil(math.log2(max(1, n // vn._BUCKET_POINTS))))
        keys = np.empty(n, np.int64)
        hist = np.zeros((max(1, -(-n // vn._CHUNK)), 1 << bits), np.int64)
        lo, sz, dims = grid.lo_array(), grid.size_array(), grid.dims_array()
        t_keys = median_ms(_keys, pts, lo, sz, dims, bits, not dense, keys, hist)
        group, rank = np.empty(n, np.int64), np.empty(n, np.int32)
        if dense:
            t_group = median_ms(vn._dense, keys, grid.num_cells, group, rank)
            nv = int(vn._dense(keys, grid.num_cells, group, rank))
        else:
            t_group = median_ms(vn._group_hashed, keys, hist, bits, group)
            t_group += median_ms(vn._rank, keys, group, rank)
            nv = int(vn._rank(keys, group, rank))
        nv = min(nv, v_cap)
        coords, num, p2v = np.empty((nv, 3), np.int32), np.empty(nv, np.int32), np.empty(n, np.int64)
        nx, ny = grid.dims[0], grid.dims[1]
        t_emit = median_ms(_emit_fresh, pts, nv, p_cap, keys, group, rank, nx, ny, coords, num, p2v)
        t_all = median_ms(voxelize, pts, size, RANGE, p_cap, v_cap)
        print(
            f"voxelize {name:8s} {gname:13s} keys {t_keys:5.2f}  group {t_group:5.2f}  fill {t_emit:5.2f}"
            f"  | whole call {t_all:5.2f} ms ({nv} voxels)"
        )


def profile_bev_pool() -> None:
    for name, (n_cam, d, h, w, c) in {"LSS": (6, 41, 8, 22, 64), "BEVDet": (6, 59, 16, 44, 80)}.items():
        idx = lss_geometry(n_cam, d, h, w).reshape(1, -1).numpy()
        f = np.random.default_rng(0).standard_normal((1, idx.shape[1], c)).astype(np.float32)
        cells = 200 * 200
        starts, order = np.empty((1, cells + 1), np.int64), np.empty((1, idx.shape[1]), np.int32)
        t_sort = median_ms(bn._sort_by_cell, idx, starts, order)
        out = np.empty((1, c, cells), np.float32)
        t_fwd = median_ms(bn._forward, f, order, starts, out)
        feats = torch.from_numpy(f).reshape(1, n_cam, d, h, w, c)
        cell_index = torch.from_numpy(idx).reshape(1, n_cam, d, h, w)
        t_all = median_ms(bev_pool, feats, cell_index, (200, 200))
        print(
            f"bev_pool {name:6s} sort {t_sort:5.2f}  forward kernel {t_fwd:5.2f}  | whole op {t_all:5.2f} ms"
        )


def main() -> None:
    global COLD
    COLD = "--cold" in sys.argv[1:]
    clouds = {"uniform": uniform_cloud(), "real": realistic_cloud()}
    for name, pts in clouds.items():
        if pts is not None:
            profile_voxelize(name, pts)
    profile_bev_pool()


if __name__ == "__main__":
    main()
