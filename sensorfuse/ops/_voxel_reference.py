"""Plain torch reference of voxelize: the specification the fast backends are tested against.

Works on any torch device. Order (the contract every backend reproduces exactly):
voxels are numbered by the input position of their first point; points inside a voxel keep input order;
in hard mode voxels after the first ``max_voxels`` and points after the first ``max_points`` of a voxel are
dropped (``point_to_voxel = -1``).
"""

from __future__ import annotations

import torch

from sensorfuse.ops._grid import VoxelGrid


def point_keys(points: torch.Tensor, grid: VoxelGrid) -> tuple[torch.Tensor, int]:
    """Linear voxel key per point (N,) int64, -1 where dropped; and the number of non-finite points."""
    finite = torch.isfinite(points).all(dim=1)
    xyz = points[:, :3].to(torch.float64)
    lo = torch.tensor(grid.lo, dtype=torch.float64, device=points.device)
    size = torch.tensor(grid.size, dtype=torch.float64, device=points.device)
    dims = torch.tensor(grid.dims, dtype=torch.float64, device=points.device)
    q = torch.floor((xyz - lo) / size)
    inside = finite & ((q >= 0) & (q < dims)).all(dim=1)
    q = torch.where(inside[:, None], q, torch.zeros_like(q)).to(torch.int64)
    nx, ny = grid.dims[0], grid.dims[1]
    keys = (q[:, 2] * ny + q[:, 1]) * nx + q[:, 0]
    keys = torch.where(inside, keys, torch.full_like(keys, -1))
    return keys, int((~finite).sum())


def decode_keys(keys: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
    """Linear keys (V,) → coords (V, 3) int32 in (z, y, x) order."""
    nx, ny = grid.dims[0], grid.dims[1]
    z = keys // (nx * ny)
    y = (keys // nx) % ny
    x = keys % nx
    return torch.stack([z, y, x], dim=1).to(torch.int32)


def voxelize_reference(
    points: torch.Tensor, grid: VoxelGrid, max_points: int, max_voxels: int, hard: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Returns voxels (V, P, C) [(V, 0, C) when not hard], coords (V, 3), num_points (V,), point_to_voxel (N,)."""
    n, c = points.shape
    dev = points.device
    keys, nonfinite = point_keys(points, grid)
    idx = torch.nonzero(keys >= 0).flatten()
    uniq, inv = torch.unique(keys[idx], return_inverse=True)
    first = torch.full((uniq.numel(),), n, dtype=torch.int64, device=dev)
    first.scatter_reduce_(0, inv, idx, reduce="amin")
    order = torch.argsort(first)  # unique voxels in first-seen order
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=dev)
    vid = rank[inv]
    counts = torch.bincount(vid, minlength=uniq.numel())
    by_voxel = torch.sort(vid, stable=True).indices
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(vid)
    slot[by_voxel] = torch.arange(vid.numel(), device=dev) - starts[vid[by_voxel]]
    keep = (vid < max_voxels) & (slot < max_points) if hard else torch.ones_like(vid, dtype=torch.bool)
    num_v = min(uniq.numel(), max_voxels)
    coords = decode_keys(uniq[order[:num_v]], grid)
    num_points = torch.clamp(counts[:num_v], max=max_points).to(torch.int32)
    p2v = torch.full((n,), -1, dtype=torch.int64, device=dev)
    p2v[idx[keep]] = vid[keep]
    voxels = torch.zeros((num_v, max_points if hard else 0, c), dtype=points.dtype, device=dev)
    if hard:
        voxels[vid[keep], slot[keep]] = points[idx[keep]]
    return voxels, coords, num_points, p2v, nonfinite
