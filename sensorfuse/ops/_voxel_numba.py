"""Numba CPU voxelize: cache-friendly, parallel, and identical to the reference whatever the thread count.

No dense lookup grid (a 1440 x 1440 x 40 table is 332 MB and every lookup misses the cache) and no global
hash table (one cache miss per point). Instead:

1. ``_keys``      (parallel over chunks) — linear voxel key per point (-1 out of range, -2 non-finite) and the
   point's hash bucket (top bits of a multiplicative hash); a histogram of buckets per chunk.
2. ``_partition`` (parallel over chunks) — stable counting-sort of (key, point index) by bucket.
3. ``_buckets``   (parallel over buckets) — each bucket is small (~2k points), so its open-addressing hash
   table lives in L2. Reading the bucket in input order gives each point the input index of its voxel's
   first point and its slot (rank inside the voxel); each first point gets its voxel's point count.
4. ``_rank``      (serial, one sequential pass) — voxels numbered by first point = first-seen order.
5. ``_emit``      (parallel) — point → voxel map, voxel copies, coords and counts.

Every step writes each output element from exactly one thread in a fixed order, so results are bitwise
independent of the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from sensorfuse.ops._binning import point_key
from sensorfuse.ops._grid import VoxelGrid
from sensorfuse.ops._parallel import parallel_kernel

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 16384  # points per chunk in the partition passes (fixed: independent of the thread count)
_BUCKET_POINTS = 2048  # target points per bucket: a 4096-slot table (48 KB) stays in L2
DENSE_MAX_CELLS = 1 << 21  # grids up to 2M cells (pillars: 540 x 540) use the dense serial pass instead


_point_key = njit(inline="always")(point_key)


@njit(inline="always")
def _hash(key):  # type: ignore[no-untyped-def]
    return np.uint64(key) * _HASH_MUL


@njit(inline="always")
def _bucket(key, bucket_bits):  # type: ignore[no-untyped-def]
    return np.int64(_hash(key) >> np.uint64(64 - bucket_bits)) if bucket_bits > 0 else 0


@parallel_kernel
def _keys(points, lo, size, dims, bucket_bits, count, keys, hist):  # type: ignore[no-untyped-def]
    n = points.shape[0]
    n_chunks = hist.shape[0]
    nonfinite = 0
    for t in prange(n_chunks):
        for i in range(t * _CHUNK, min(n, (t + 1) * _CHUNK)):
            key = _point_key(points, i, lo, size, dims)
            if key == -2:
                nonfinite += 1
            keys[i] = key
        # bucket histogram in its own loop over the chunk's L2-resident keys; none on the dense path
        if count:
            for i in range(t * _CHUNK, min(n, (t + 1) * _CHUNK)):
                if keys[i] >= 0:
                    hist[t, _bucket(keys[i], bucket_bits)] += 1
    return nonfinite


@parallel_kernel
def _partition(keys, bucket_bits, offsets, part_keys, part_idx):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    for t in prange(offsets.shape[0]):
        pos = offsets[t].copy()
        for i in range(t * _CHUNK, min(n, (t + 1) * _CHUNK)):
            if keys[i] >= 0:
                b = _bucket(keys[i], bucket_bits)
                part_keys[pos[b]] = keys[i]
                part_idx[pos[b]] = i
                pos[b] += 1


@njit(inline="always")
def _pack(first, low):  # type: ignore[no-untyped-def]
    """One int64 per kept point: its voxel's first point index (high 32 bits) and, in the low 32 bits, its
    slot in the voxel — or, for the first point itself (slot 0), the voxel's total point count."""
    return (np.int64(first) << 32) | np.int64(low)


@parallel_kernel
def _buckets(part_keys, part_idx, starts, bucket_bits, table_bits, group):  # type: ignore[no-untyped-def]
    mask = (1 << table_bits) - 1
    shift = np.uint64(64 - bucket_bits - table_bits)
    for b in prange(starts.shape[0] - 1):
        t_keys = np.full(1 << table_bits, -1, np.int64)
        t_voxel = np.empty(1 << table_bits, np.int32)
        v_first = np.empty(starts[b + 1] - starts[b], np.int64)
        v_count = np.empty(starts[b + 1] - starts[b], np.int64)
        nv = 0
        for j in range(starts[b], starts[b + 1]):
            k = part_keys[j]
            h = np.int64(_hash(k) >> shift) & mask
            while t_keys[h] != k and t_keys[h] != -1:
                h = (h + 1) & mask
            i = part_idx[j]
            if t_keys[h] == -1:
                t_keys[h] = k
                t_voxel[h] = nv
                v_first[nv] = i
                v_count[nv] = 1
                nv += 1
            else:
                v = t_voxel[h]
                group[i] = _pack(v_first[v], v_count[v])
                v_count[v] += 1
        for v in range(nv):
            group[v_first[v]] = _pack(v_first[v], v_count[v])


@njit(cache=True)
def _dense(keys, n_cells, group, rank):  # type: ignore[no-untyped-def]
    """Small grids: one serial pass with a dense per-cell table (cache resident), ranks included.

    ``cell[2k]`` = first point of cell k (-1 none), ``cell[2k + 1]`` = its count: one cache line per lookup.
    """
    cell = np.full(2 * n_cells, -1, np.int32)
    firsts = np.empty(keys.shape[0], np.int32)  # first point of voxel v, to set its count afterwards
    nv = 0
    for i in range(keys.shape[0]):
        k = keys[i]
        if k >= 0:
            if cell[2 * k] < 0:
                cell[2 * k] = i
                cell[2 * k + 1] = 1
                rank[i] = nv
                firsts[nv] = i
                nv += 1
            else:
                group[i] = _pack(cell[2 * k], cell[2 * k + 1])
                cell[2 * k + 1] += 1
    for v in range(nv):
        i = firsts[v]
        group[i] = _pack(i, cell[2 * keys[i] + 1])
    return nv


@njit(cache=True)
def _rank(keys, group, rank):  # type: ignore[no-untyped-def]
    nv = 0
    for i in range(keys.shape[0]):
        if keys[i] >= 0 and (group[i] >> 32) == i:
            rank[i] = nv
            nv += 1
    return nv


@parallel_kernel
def _emit(points, keys, group, rank, nx, ny, max_points, voxels, coords, num_points, p2v):  # type: ignore[no-untyped-def]
    n, c = points.shape
    n_vox = coords.shape[0]
    copy = voxels.shape[1] > 0
    for v in prange(voxels.shape[0]):
        voxels[v] = 0
    for i in prange(n):
        p2v[i] = -1
        k = keys[i]
        if k >= 0:
            first = group[i] >> 32
            low = group[i] & 0xFFFFFFFF
            s = 0 if first == i else low
            v = rank[first]
            if v < n_vox and s < max_points:
                p2v[i] = v
                if copy:
                    for j in range(c):
                        voxels[v, s, j] = points[i, j]
                if first == i:
                    coords[v, 0] = k // (nx * ny)
                    coords[v, 1] = (k // nx) % ny
                    coords[v, 2] = k % nx
                    num_points[v] = min(low, max_points)


def voxelize_numba(
    points: np.ndarray, grid: VoxelGrid, max_points: int, max_voxels: int, hard: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Same outputs and order as ``voxelize_reference`` for a C-contiguous (N, C) float array, N < 2**31."""
    n, c = points.shape
    dense = grid.num_cells <= DENSE_MAX_CELLS
    bucket_bits = 0 if dense else max(0, math.ceil(math.log2(max(1, n // _BUCKET_POINTS))))
    keys = np.empty(n, np.int64)
    hist = np.zeros((max(1, -(-n // _CHUNK)), 1 << bucket_bits), np.int64)
    nonfinite = int(
        _keys(
            points, grid.lo_array(), grid.size_array(), grid.dims_array(), bucket_bits, not dense, keys, hist
        )
    )
    group = np.empty(n, np.int64)
    rank = np.empty(n, np.int32)
    if dense:
        n_vox = int(_dense(keys, grid.num_cells, group, rank))
    else:
        _group_hashed(keys, hist, bucket_bits, group)
        n_vox = int(_rank(keys, group, rank))
    n_vox = min(n_vox, max_voxels)
    voxels = np.empty((n_vox, max_points if hard else 0, c), dtype=points.dtype)
    coords = np.empty((n_vox, 3), np.int32)
    num_points = np.empty(n_vox, np.int32)
    p2v = np.empty(n, np.int64)
    _emit(points, keys, group, rank, grid.dims[0], grid.dims[1], max_points, voxels, coords, num_points, p2v)
    return voxels, coords, num_points, p2v, nonfinite


def _group_hashed(keys: np.ndarray, hist: np.ndarray, bucket_bits: int, group: np.ndarray) -> None:
    """Partition points by hash bucket (stable), then group each bucket with its own small hash table."""
    flat = hist.T.ravel()  # chunk t of bucket b starts after all earlier buckets and earlier chunks of b
    offsets = (np.cumsum(flat) - flat).reshape(hist.T.shape).T.copy()
    per_bucket = hist.sum(axis=0)
    starts = np.concatenate([[0], np.cumsum(per_bucket)])
    part_keys = np.empty(int(starts[-1]), np.int64)
    part_idx = np.empty(int(starts[-1]), np.int32)
    _partition(keys, bucket_bits, offsets, part_keys, part_idx)
    table_bits = max(4, math.ceil(math.log2(max(1, 2 * int(per_bucket.max(initial=0))))))
    _buckets(part_keys, part_idx, starts, bucket_bits, table_bits, group)


def set_threads(n: int) -> None:
    """Numba's CPU thread count for the parallel kernels (results do not depend on it)."""
    numba.set_num_threads(n)
