"""Per-phase timing of the Numba kernels on the ops-benchmark inputs (where the time goes, not a comparison).

    .venv/bin/python tools/profile_ops.py [--cold]

``--cold`` evicts the caches (a 128 MB write) before every timed call: the state the benchmark's interleaved
rounds leave each implementation in, where the back-to-back default keeps inputs and tables cache resident.

voxelize: on the dense path the key pass and the serial head side by side, the parallel tail and the fill
(point list + row writer); on the hashed path the key pass, the bucket partition, the buckets' grouping, the
rank of the first-point bitmap, the voxels' numbers, keys and counts (place) and emit; bev_pool: the forward
kernel (one call: the runs' sums, their merge, the tiles' write-out) and the whole op (forward, no autograd
graph). Medians of repeated calls in one process (back to back unless ``--cold``); run on a quiet machine.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from functools import partial

import numba
import numpy as np
import torch

from sensorfuse.bench.ops import lss_geometry, realistic_cloud, uniform_cloud
from sensorfuse.ops import _bev_numba as bn
from sensorfuse.ops import _voxel_numba as vn
from sensorfuse.ops import bev_pool, voxelize
from sensorfuse.ops._grid import VoxelGrid, make_grid

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


def _keys_and_head_fresh(
    pts: np.ndarray, grid: VoxelGrid, keys: np.ndarray, v_cap: int, *rest: object, state: np.ndarray
) -> np.ndarray:
    """``_keys_and_head`` with a fresh cell table, flags and state, as ``voxelize`` calls it; returns the table."""
    cell = np.zeros(grid.num_cells, np.uint16 if v_cap < 2**16 else np.int32)
    n_chunks = max(1, -(-pts.shape[0] // vn._CHUNK))
    counts, ready = np.zeros((n_chunks, 2), np.int64), np.zeros(n_chunks, np.int64)
    state[:] = (-1, -1, 1, n_chunks)
    lo, size, dims = grid.lo_array(), grid.size_array(), grid.dims_array()
    vn._keys_and_head(pts, lo, size, dims, keys, counts, ready, cell, v_cap, *rest, state)
    return cell


def _place_fresh(*args: object) -> None:
    """``_place`` on a fresh copy (the last argument) of the buckets' first points (its ``bfirst``)."""
    *head, bfirst, bcount, vkey, cnt, vnum = args
    vnum[:] = bfirst  # type: ignore[index]
    vn._place(*head, vnum, bcount, vkey, cnt)


def _tail_again(cnt_head: np.ndarray, cnt: np.ndarray, *args: object) -> None:
    """``_tail`` from the head's counts (it accumulates into ``cnt``)."""
    cnt[:] = cnt_head
    vn._tail(*args, cnt)


def _dense_phases(
    pts: np.ndarray, keys: np.ndarray, grid: VoxelGrid, p_cap: int, v_cap: int
) -> tuple[str, int]:
    n, c = pts.shape
    voxels, p2v = np.empty((v_cap, p_cap, c), pts.dtype), np.empty(n, np.int64)
    vid, pos = np.empty(n, np.int32), np.empty(n, np.int32)
    cnt, vkey, state = np.empty(v_cap, np.int32), np.empty(v_cap, np.int32), np.full(4, -1, np.int64)
    head = partial(_keys_and_head_fresh, pts, grid, keys, v_cap, p_cap, vid, pos, cnt, vkey, state=state)
    t_head = median_ms(head)
    cell = head()
    nv, stop = int(state[0]), int(state[1])
    n_seg = max(1, min(numba.get_num_threads(), n - stop))
    seg_len = max(1, -(-(n - stop) // n_seg))
    base = np.empty((n_seg, nv), np.int32)
    t_tail = 0.0
    if stop < n:
        t_tail = median_ms(_tail_again, cnt[:nv].copy(), cnt[:nv], keys, stop, cell, seg_len, base, vid, pos)
    coords, num = np.empty((nv, 3), np.int32), np.empty(nv, np.int32)
    starts = np.empty(nv + 1, np.int32)
    vn._slot_starts(cnt[:nv], p_cap, starts)
    order = np.empty(int(starts[-1]), np.int32)
    rest = (
        vid,
        pos,
        vkey,
        grid.dims[0],
        grid.dims[1],
        p_cap,
        starts,
        order,
        voxels[:nv],
        coords,
        num,
        p2v,
    )
    t_fill = median_ms(vn._fill, pts, stop, seg_len, base, *rest)
    return f"keys+head {t_head:5.2f}  tail {t_tail:5.2f}  fill {t_fill:5.2f}", nv


def _hashed_phases(
    pts: np.ndarray, keys: np.ndarray, hist: np.ndarray, bits: int, grid: VoxelGrid, p_cap: int, v_cap: int
) -> tuple[str, int]:
    n, c = pts.shape
    voxels, p2v = np.empty((v_cap, p_cap, c), pts.dtype), np.empty(n, np.int64)
    t_part = median_ms(vn._partitioned, keys, hist, bits)
    part, starts_b = vn._partitioned(keys, hist, bits)
    m = part.shape[0]
    loc, bfirst, bcount, bkey = (np.empty(m, np.int32) for _ in range(4))
    nvb = np.empty(len(starts_b) - 1, np.int64)
    firsts = np.empty((vn._GROUPS, -(-n // 64)), np.uint64)
    t_buckets = median_ms(vn._buckets, part, starts_b, bits, loc, bkey, bfirst, bcount, nvb, firsts)
    word_rank = np.empty(firsts.shape[1], np.int64)
    t_rank = median_ms(vn._rank_firsts, firsts, word_rank)
    nv = min(int(vn._rank_firsts(firsts, word_rank)), v_cap)
    vkey, cnt, starts = np.empty(nv, keys.dtype), np.empty(nv, np.int32), np.empty(nv + 1, np.int32)
    vnum = bfirst.copy()  # ``_place`` overwrites its first points with voxel numbers: a fresh copy per call
    t_place = median_ms(
        _place_fresh, starts_b, nvb, firsts[0], word_rank, nv, bkey, bfirst, bcount, vkey, cnt, vnum
    )
    vn._slot_starts(cnt, p_cap, starts)
    coords, num = np.empty((nv, 3), np.int32), np.empty(nv, np.int32)
    order = np.empty(int(starts[nv]), np.int32)
    rest = (grid.dims[0], grid.dims[1], p_cap, starts, order, voxels[:nv], coords, num, p2v)
    t_emit = median_ms(vn._emit, pts, part, starts_b, loc, vnum, vkey, *rest)
    return (
        f"partition {t_part:5.2f}  buckets {t_buckets:5.2f}  rank {t_rank:5.2f}  place {t_place:5.2f}"
        f"  emit {t_emit:5.2f}"
    ), nv


def profile_voxelize(name: str, pts: np.ndarray) -> None:
    n = pts.shape[0]
    for gname, (size, p_cap, v_cap) in GRIDS.items():
        grid = make_grid(size, RANGE)
        dense = grid.num_cells <= vn.DENSE_MAX_CELLS
        bits = 0 if dense else max(0, math.ceil(math.log2(max(1, n // vn._BUCKET_POINTS))))
        keys = np.empty(n, np.int32)
        hist = np.zeros((max(1, -(-n // vn._CHUNK)), 1 << bits), np.int64)
        lo, sz, dims = grid.lo_array(), grid.size_array(), grid.dims_array()
        if dense:  # the key pass runs beside the head
            phases, nv = _dense_phases(pts, keys, grid, p_cap, v_cap)
        else:
            t_keys = median_ms(_keys, pts, lo, sz, dims, bits, True, keys, hist)
            hashed, nv = _hashed_phases(pts, keys, hist, bits, grid, p_cap, v_cap)
            phases = f"keys {t_keys:5.2f}  {hashed}"
        t_all = median_ms(voxelize, pts, size, RANGE, p_cap, v_cap)
        print(f"voxelize {name:8s} {gname:13s} {phases}  | whole call {t_all:5.2f} ms ({nv} voxels)")


def profile_bev_pool() -> None:
    for name, (n_cam, d, h, w, c) in {"LSS": (6, 41, 8, 22, 64), "BEVDet": (6, 59, 16, 44, 80)}.items():
        idx = lss_geometry(n_cam, d, h, w).reshape(1, -1).numpy()
        f = np.random.default_rng(0).standard_normal((1, idx.shape[1], c)).astype(np.float32)
        cells = 200 * 200
        runs = max(1, numba.get_num_threads())
        t_fwd = median_ms(bn._forward, f, idx, cells, runs)
        feats = torch.from_numpy(f).reshape(1, n_cam, d, h, w, c)
        cell_index = torch.from_numpy(idx).reshape(1, n_cam, d, h, w)
        t_all = median_ms(bev_pool, feats, cell_index, (200, 200))
        print(
            f"bev_pool {name:6s} forward kernel (accumulate, merge runs, write out) {t_fwd:5.2f}"
            f"  | whole op {t_all:5.2f} ms"
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
