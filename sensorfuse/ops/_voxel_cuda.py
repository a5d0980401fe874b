# mypy: disable-error-code="call-arg,var-annotated"
"""CUDA voxelize: numba.cuda kernels for the per-point and per-element work, torch (CUB) for scans and the
stable sort; **one** host synchronisation per call (the voxel count, read after every kernel is queued).

Every buffer before that read has a size known on the host (points, table, at most ``min(max_voxels, N)``
voxels), so nothing waits for the GPU until the end; the outputs are then leading slices of those buffers.

1. ``_keys_insert``  — per point: linear voxel key (float64 binning, as every backend; non-finite counted)
   and an open-addressing hash insert (``atomic.cas``). Per table slot: the key + 1 (0 = empty), ``N - i``
   of its first point through ``atomic.max`` (so the first point, hence the order, does not depend on thread
   scheduling) and its point count through ``atomic.add``; each point keeps its slot.
2. ``_firsts``       — per point: 1 if it is its voxel's first point; a ``cumsum`` over those flags numbers
   the voxels in first-seen order (the documented order of every backend).
3. ``_assign``       — per point: its voxel number (the rank of its voxel's first point); first points store
   their voxel's key and count in voxel order. In dynamic mode this is the point → voxel map.
4. hard mode only: a stable sort of the points by voxel number (points of dropped voxels last) gives each
   point its slot (input order inside a voxel); ``_slots`` drops the points past ``max_points``.
5. ``_voxel_out``    — per output element: each voxel row gathered from the sorted points and zero-filled in
   one pass (no separate zeroing), each voxel's coords and count.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from numba import cuda

from sensorfuse.ops._binning import point_key
from sensorfuse.ops._cuda_util import kernel_arg, launch
from sensorfuse.ops._grid import VoxelGrid

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_point_key = cuda.jit(device=True)(point_key)


@cuda.jit(device=True)
def _hash(key, bits):  # type: ignore[no-untyped-def]
    return np.int64((np.uint64(key) * _HASH_MUL) >> np.uint64(64 - bits))


@cuda.jit
def _keys_insert(points, lo, size, dims, bits, keys, slot_of, t_key, t_first, t_count, stats):  # type: ignore[no-untyped-def]
    """keys (N,) int64 (-1 out of range, -2 non-finite); slot_of (N,) table slot or -1; stats[0] += non-finite."""
    i = cuda.grid(1)
    n = points.shape[0]
    if i >= n:
        return
    key = _point_key(points, i, lo, size, dims)
    keys[i] = key
    slot_of[i] = -1
    if key < 0:
        if key == -2:
            cuda.atomic.add(stats, 0, 1)
        return
    mask = (1 << bits) - 1
    h = _hash(key, bits)
    while True:
        prev = cuda.atomic.cas(t_key, h, 0, key + 1)
        if prev == 0 or prev == key + 1:
            cuda.atomic.max(t_first, h, n - i)
            cuda.atomic.add(t_count, h, 1)
            slot_of[i] = h
            return
        h = (h + 1) & mask


@cuda.jit
def _firsts(slot_of, t_first, is_first):  # type: ignore[no-untyped-def]
    """is_first (N,) int64: 1 where point i is the first point of its voxel."""
    i = cuda.grid(1)
    n = slot_of.shape[0]
    if i >= n:
        return
    h = slot_of[i]
    is_first[i] = 1 if h >= 0 and n - t_first[h] == i else 0


@cuda.jit
def _assign(slot_of, t_first, t_count, keys, rank, v_alloc, p2v, sort_key, v_key, v_count, stats):  # type: ignore[no-untyped-def]
    """rank (N,) inclusive cumsum of is_first; v_alloc = min(max_voxels, N). p2v (N,) voxel or -1; sort_key
    (N,) int32 voxel, or v_alloc where dropped; v_key, v_count (v_alloc,) in voxel order; stats[1] = number of
    voxels before the cap. (A voxel number is below N, so ``v < v_alloc`` is ``v < max_voxels``.)"""
    i = cuda.grid(1)
    n = slot_of.shape[0]
    if i >= n:
        return
    if i == n - 1:
        stats[1] = rank[n - 1]
    h = slot_of[i]
    if h < 0:
        p2v[i] = -1
        sort_key[i] = v_alloc
        return
    first = n - t_first[h]
    v = rank[first] - 1
    if v >= v_alloc:
        p2v[i] = -1
        sort_key[i] = v_alloc
        return
    p2v[i] = v
    sort_key[i] = v
    if i == first:
        v_key[v] = keys[i]
        v_count[v] = t_count[h]


@cuda.jit
def _slots(sorted_v, order, v_end, v_count, v_alloc, max_points, p2v):  # type: ignore[no-untyped-def]
    """Per sorted position j: the point's slot is j minus its voxel's first position; past max_points → -1."""
    j = cuda.grid(1)
    if j >= sorted_v.shape[0]:
        return
    v = sorted_v[j]
    if v < v_alloc and j - (v_end[v] - v_count[v]) >= max_points:
        p2v[order[j]] = -1


@cuda.jit
def _voxel_out(
    points, order, v_end, v_count, v_key, rank, v_alloc, max_points, nx, ny, voxels, coords, num_points
):  # type: ignore[no-untyped-def]
    """One thread per element of the (V_alloc, P, C) output (per voxel when P == 0): rows gathered from the
    sorted points, zero after them; the element (v, 0, 0) also writes coords[v] (z, y, x) and num_points[v]."""
    t = cuda.grid(1)
    c = points.shape[1]
    width = max_points * c if voxels.shape[1] > 0 else 1
    v = t // width
    n = points.shape[0]
    if v >= rank[n - 1] or v >= v_alloc:  # (no builtin min: numba 0.68 fails to compile it here)
        return
    e = t - v * width
    count = v_count[v] if v_count[v] < max_points else max_points
    if voxels.shape[1] > 0:
        s = e // c
        col = e - s * c
        if s < count:
            voxels[v, s, col] = points[order[v_end[v] - v_count[v] + s], col]
        else:
            voxels[v, s, col] = 0
    if e == 0:
        key = v_key[v]
        coords[v, 0] = key // (nx * ny)
        coords[v, 1] = (key // nx) % ny
        coords[v, 2] = key % nx
        num_points[v] = count


@functools.lru_cache(maxsize=16)
def _grid_constants(
    lo: tuple[float, ...], size: tuple[float, ...], dims: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grid as three small device arrays, copied once per grid and device (not on every call)."""
    return (
        torch.tensor(lo, dtype=torch.float64, device=device),
        torch.tensor(size, dtype=torch.float64, device=device),
        torch.tensor(dims, dtype=torch.int64, device=device),
    )


def voxelize_cuda(
    points: torch.Tensor, grid: VoxelGrid, max_points: int, max_voxels: int, hard: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Same outputs and order as ``voxelize_reference``; ``points`` (N, C) on the GPU (or the CPU under the
    simulator). Returns voxels (V, P, C) [(V, 0, C) when not hard], coords (V, 3) int32, num_points (V,)
    int32, point_to_voxel (N,) int64, the non-finite count."""
    n, c = points.shape
    dev = points.device
    p_out = max_points if hard else 0
    if n == 0:
        return (
            points.new_zeros((0, p_out, c)),
            torch.zeros((0, 3), dtype=torch.int32, device=dev),
            torch.zeros(0, dtype=torch.int32, device=dev),
            torch.zeros(0, dtype=torch.int64, device=dev),
            0,
        )
    lo, size, dims = _grid_constants(tuple(grid.lo), tuple(grid.size), tuple(grid.dims), dev)
    bits = max(4, math.ceil(math.log2(2 * n)))  # table at most half full
    table = torch.zeros((3, 1 << bits), dtype=torch.int64, device=dev)  # key + 1, N - first, count
    stats = torch.zeros(2, dtype=torch.int64, device=dev)  # non-finite points, voxels before the cap
    i64 = functools.partial(torch.empty, dtype=torch.int64, device=dev)
    keys, slot_of, is_first, p2v = i64(n), i64(n), i64(n), i64(n)
    sort_key = torch.empty(n, dtype=torch.int32, device=dev)  # int32: half the radix sort passes of int64
    v_alloc = min(max_voxels, n)
    v_key, v_count = i64(v_alloc), torch.zeros(v_alloc, dtype=torch.int64, device=dev)
    t_key, t_first, t_count = (kernel_arg(row) for row in table)
    a_keys, a_slot, a_p2v, a_stats = kernel_arg(keys), kernel_arg(slot_of), kernel_arg(p2v), kernel_arg(stats)

    launch(_keys_insert, n, kernel_arg(points), kernel_arg(lo), kernel_arg(size), kernel_arg(dims), bits,
           a_keys, a_slot, t_key, t_first, t_count, a_stats)  # fmt: skip
    launch(_firsts, n, a_slot, t_first, kernel_arg(is_first))
    rank = torch.cumsum(is_first, 0)
    a_rank = kernel_arg(rank)
    a_vkey, a_vcount = kernel_arg(v_key), kernel_arg(v_count)
    launch(_assign, n, a_slot, t_first, t_count, a_keys, a_rank, v_alloc, a_p2v, kernel_arg(sort_key),
           a_vkey, a_vcount, a_stats)  # fmt: skip
    v_end = torch.cumsum(v_count, 0)  # voxel v's points end at v_end[v] in the sorted order
    a_end = kernel_arg(v_end)
    if hard:
        sorted_v, order = torch.sort(sort_key, stable=True)
        a_order = kernel_arg(order)
        launch(_slots, n, kernel_arg(sorted_v), a_order, a_end, a_vcount, v_alloc, max_points, a_p2v)
    else:
        a_order = (
            a_p2v  # not read: dynamic mode gathers no rows (int64, as in hard mode: one compiled kernel)
        )
    voxels = torch.empty((v_alloc, p_out, c), dtype=points.dtype, device=dev)
    coords = torch.empty((v_alloc, 3), dtype=torch.int32, device=dev)
    num_points = torch.empty(v_alloc, dtype=torch.int32, device=dev)
    launch(_voxel_out, v_alloc * max(p_out * c, 1), kernel_arg(points), a_order, a_end, a_vcount, a_vkey,
           a_rank, v_alloc, max_points, grid.dims[0], grid.dims[1], kernel_arg(voxels),
           kernel_arg(coords), kernel_arg(num_points))  # fmt: skip
    nonfinite, n_voxels = stats.tolist()  # the one synchronisation
    num_v = min(n_voxels, max_voxels)
    return voxels[:num_v], coords[:num_v], num_points[:num_v], p2v, nonfinite
