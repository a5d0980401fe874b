# mypy: disable-error-code="call-arg,var-annotated"
"""CUDA voxelize: numba.cuda kernels for the per-point work, torch (CUB) for scan and stable sort.

Steps (all on the device, no host round trip except the voxel count):
1. ``_keys_kernel``   — linear voxel key per point (float64 binning, as every backend), non-finite count.
2. ``_insert_kernel`` — open-addressing hash insert with atomic CAS; ``atomic.min`` keeps each voxel's
   first point index, which fixes the deterministic first-seen order independently of thread scheduling.
3. ``_lookup_kernel`` — each point reads its voxel's first point; ``cumsum`` over "I am a first point"
   numbers the voxels in input order.
4. A stable sort by voxel id gives each point its slot (input order inside a voxel), then one scatter.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import cuda

from sensorfuse.ops._binning import point_key
from sensorfuse.ops._cuda_util import kernel_arg, launch
from sensorfuse.ops._grid import VoxelGrid
from sensorfuse.ops._voxel_reference import decode_keys

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_point_key = cuda.jit(device=True)(point_key)


@cuda.jit
def _keys_kernel(points, lo, size, dims, keys, nonfinite):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    if i >= points.shape[0]:
        return
    key = _point_key(points, i, lo, size, dims)
    if key == -2:
        cuda.atomic.add(nonfinite, 0, 1)
    keys[i] = key


@cuda.jit(device=True)
def _hash(key, bits):  # type: ignore[no-untyped-def]
    return np.int64((np.uint64(key) * _HASH_MUL) >> np.uint64(64 - bits))


@cuda.jit
def _insert_kernel(keys, table_keys, table_first, bits):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    if i >= keys.shape[0] or keys[i] < 0:
        return
    k = keys[i]
    mask = (1 << bits) - 1
    h = _hash(k, bits)
    while True:
        prev = cuda.atomic.cas(table_keys, h, -1, k)
        if prev == -1 or prev == k:
            cuda.atomic.min(table_first, h, i)
            return
        h = (h + 1) & mask


@cuda.jit
def _lookup_kernel(keys, table_keys, table_first, bits, first):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    if i >= keys.shape[0]:
        return
    k = keys[i]
    first[i] = -1
    if k < 0:
        return
    mask = (1 << bits) - 1
    h = _hash(k, bits)
    while table_keys[h] != k:
        h = (h + 1) & mask
    first[i] = table_first[h]


def voxelize_cuda(
    points: torch.Tensor, grid: VoxelGrid, max_points: int, max_voxels: int, hard: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Same outputs and order as ``voxelize_reference``; ``points`` on the GPU (or CPU under the simulator)."""
    n = points.shape[0]
    dev = points.device
    keys = torch.empty(n, dtype=torch.int64, device=dev)
    nonfinite = torch.zeros(1, dtype=torch.int64, device=dev)
    consts = [torch.tensor(v, device=dev) for v in (grid.lo, grid.size, grid.dims)]
    launch(
        _keys_kernel,
        n,
        kernel_arg(points),
        *(kernel_arg(t) for t in consts),
        kernel_arg(keys),
        kernel_arg(nonfinite),
    )
    bits = max(4, math.ceil(math.log2(max(2 * n, 2))))
    table_keys = torch.full((1 << bits,), -1, dtype=torch.int64, device=dev)
    table_first = torch.full((1 << bits,), n, dtype=torch.int64, device=dev)
    first = torch.empty(n, dtype=torch.int64, device=dev)
    args = (kernel_arg(keys), kernel_arg(table_keys), kernel_arg(table_first), bits)
    launch(_insert_kernel, n, *args)
    launch(_lookup_kernel, n, *args, kernel_arg(first))
    idx = torch.nonzero(first >= 0).flatten()  # kept points, input order
    is_first = first[idx] == idx
    rank = torch.cumsum(is_first, 0) - 1  # voxel number of each first point = first-seen order
    rank_of_point = torch.full((n,), -1, dtype=torch.int64, device=dev)
    rank_of_point[idx[is_first]] = rank[is_first]
    vid = rank_of_point[first[idx]]
    n_vox = int(is_first.sum())
    voxels, coords, num_points, p2v = _fill(
        points, grid, idx, vid, keys[idx[is_first]], n_vox, max_points, max_voxels, hard
    )
    return voxels, coords, num_points, p2v, int(nonfinite.item())


def _fill(
    points: torch.Tensor,
    grid: VoxelGrid,
    idx: torch.Tensor,
    vid: torch.Tensor,
    voxel_keys: torch.Tensor,
    n_vox: int,
    max_points: int,
    max_voxels: int,
    hard: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, c = points.shape
    dev = points.device
    counts = torch.bincount(vid, minlength=n_vox)
    by_voxel = torch.sort(vid, stable=True).indices
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(vid)
    slot[by_voxel] = torch.arange(vid.numel(), device=dev) - starts[vid[by_voxel]]
    keep = (vid < max_voxels) & (slot < max_points) if hard else torch.ones_like(vid, dtype=torch.bool)
    num_v = min(n_vox, max_voxels)
    p2v = torch.full((n,), -1, dtype=torch.int64, device=dev)
    p2v[idx[keep]] = vid[keep]
    voxels = torch.zeros((num_v, max_points if hard else 0, c), dtype=points.dtype, device=dev)
    if hard:
        voxels[vid[keep], slot[keep]] = points[idx[keep]]
    coords = decode_keys(voxel_keys[:num_v], grid)
    return voxels, coords, torch.clamp(counts[:num_v], max=max_points).to(torch.int32), p2v
