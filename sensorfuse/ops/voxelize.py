"""``voxelize``: points → hard voxels, dynamic voxel indices, or pillars, with one checking wrapper.

Conventions (the same for every backend; see docs/ops.md):

- ``point_range = (xmin, ymin, zmin, xmax, ymax, zmax)`` metres, ``voxel_size = (sx, sy, sz)``; the grid has
  ``n_a = round((max_a - min_a) / s_a)`` cells per axis. Pillars: ``sz = zmax - zmin`` (one z cell).
- Binning, in float64: ``q_a = floor((p_a - min_a) / s_a)``; kept iff finite and ``0 <= q_a < n_a``, i.e.
  ``min_a <= p_a < max_a``; a point on a cell border goes to the cell above.
- Order: voxel ``v`` is the v-th distinct voxel met when reading the points in input order; points inside a
  voxel keep input order. Hard mode keeps the first ``max_voxels`` voxels and the first ``max_points`` points
  of each; everything else has ``point_to_voxel == -1``.
- Non-finite points (NaN/inf in any column) are dropped and counted in ``num_nonfinite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.ops._grid import VoxelGrid, check_limits, check_points, make_grid
from sensorfuse.ops._voxel_reference import voxelize_reference

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
_WHERE = "sensorfuse.ops.voxelize"


@dataclass(frozen=True)
class VoxelResult(Generic[ArrayT]):
    """Output of ``voxelize``; numpy arrays for numpy input, torch tensors (input's device) for torch input.

    Fields:
        voxels: (V, P, C) the points of each voxel, zero beyond ``num_points``; (V, 0, C) in dynamic mode.
        coords: (V, 3) int32 voxel indices in (z, y, x) order.
        num_points: (V,) int32 points stored per voxel (dynamic mode: all points of the voxel).
        point_to_voxel: (N,) int64 voxel index of each input point, -1 if dropped.
        num_nonfinite: number of input points dropped for NaN/inf.
    """

    voxels: ArrayT
    coords: ArrayT
    num_points: ArrayT
    point_to_voxel: ArrayT
    num_nonfinite: int

    @property
    def num_voxels(self) -> int:
        return int(self.coords.shape[0])


def voxelize(
    points: ArrayT,
    voxel_size: Any,
    point_range: Any,
    max_points: int | None = None,
    max_voxels: int | None = None,
    mode: str = "hard",
    backend: str = "auto",
) -> VoxelResult[ArrayT]:
    """Voxelize an (N, C >= 3) float32/float64 point array (x, y, z, features...).

    Args:
        points: numpy array or torch tensor (N, C).
        voxel_size: (sx, sy, sz) metres.
        point_range: (xmin, ymin, zmin, xmax, ymax, zmax) metres.
        max_points: P, points kept per voxel (hard mode; ignored in dynamic mode).
        max_voxels: V, voxels kept (hard mode; ignored in dynamic mode).
        mode: "hard" (capacity-limited voxels) or "dynamic" (every kept point → its voxel, no limits).
        backend: "auto" (cuda for CUDA tensors, else numba), "numba", "cuda" or "reference" (torch).
    """
    p_cap, v_cap = check_limits(mode, backend, max_points, max_voxels)
    grid = make_grid(voxel_size, point_range)
    hard = mode == "hard"
    if isinstance(points, np.ndarray):
        check_points(points.shape, points.dtype.name)
        return _run_numpy(points, grid, p_cap, v_cap, hard, backend)
    if isinstance(points, torch.Tensor):
        check_points(tuple(points.shape), str(points.dtype).removeprefix("torch."))
        return _run_torch(points, grid, p_cap, v_cap, hard, backend)
    raise DataError(_WHERE, f"expected a numpy array or torch tensor, got {type(points).__name__}", "points")


def _run_numpy(
    points: np.ndarray, grid: VoxelGrid, p_cap: int, v_cap: int, hard: bool, backend: str
) -> VoxelResult[np.ndarray]:
    if backend in ("auto", "numba"):
        from sensorfuse.ops._voxel_numba import voxelize_numba

        out = voxelize_numba(np.ascontiguousarray(points), grid, p_cap, v_cap, hard)
        return VoxelResult(*out)
    res = _run_torch(torch.from_numpy(np.ascontiguousarray(points)), grid, p_cap, v_cap, hard, backend)
    return VoxelResult(
        res.voxels.cpu().numpy(),
        res.coords.cpu().numpy(),
        res.num_points.cpu().numpy(),
        res.point_to_voxel.cpu().numpy(),
        res.num_nonfinite,
    )


def _run_torch(
    points: torch.Tensor, grid: VoxelGrid, p_cap: int, v_cap: int, hard: bool, backend: str
) -> VoxelResult[torch.Tensor]:
    points = points.detach().contiguous()
    if backend == "auto":
        backend = "cuda" if points.is_cuda else "numba"
    if backend == "reference":
        return VoxelResult(*voxelize_reference(points, grid, p_cap, v_cap, hard))
    if backend == "cuda":
        if not (points.is_cuda or cuda_simulator_enabled()):
            raise ConfigError(f"{_WHERE}: backend='cuda' needs a CUDA tensor, got one on {points.device}")
        from sensorfuse.ops._voxel_cuda import voxelize_cuda

        return VoxelResult(*voxelize_cuda(points, grid, p_cap, v_cap, hard))
    from sensorfuse.ops._voxel_numba import voxelize_numba

    out = voxelize_numba(points.cpu().numpy(), grid, p_cap, v_cap, hard)
    dev = points.device
    v, c, n, p = (torch.from_numpy(a).to(dev) for a in out[:4])
    return VoxelResult(v, c, n, p, out[4])


def cuda_simulator_enabled() -> bool:
    """True when Numba's CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1): CUDA kernels then run on the CPU."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
