"""Boundary checks and the voxel grid shared by every voxelize backend.

The binning rule, identical in all backends (computed in float64):

    q_a = floor((p_a - min_a) / size_a)          for a in (x, y, z)
    a point is kept iff all coordinates are finite and 0 <= q_a < n_a on every axis,

with ``n_a = round((max_a - min_a) / size_a)``. A point exactly on a cell border therefore belongs to the
cell above it; a point exactly on ``min`` is in range, one exactly on ``max`` is not.
The linear voxel key is ``(q_z * n_y + q_y) * n_x + q_x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorfuse.errors import ConfigError, DataError

MODES = ("hard", "dynamic")
BACKENDS = ("auto", "numba", "cuda", "reference")
_WHERE = "sensorfuse.ops.voxelize"


@dataclass(frozen=True)
class VoxelGrid:
    """A checked voxel grid: ``lo``/``size`` (x, y, z) metres in float64 and ``dims`` (n_x, n_y, n_z)."""

    lo: tuple[float, float, float]
    size: tuple[float, float, float]
    dims: tuple[int, int, int]

    @property
    def num_cells(self) -> int:
        return self.dims[0] * self.dims[1] * self.dims[2]

    def lo_array(self) -> np.ndarray:
        return np.asarray(self.lo, dtype=np.float64)

    def size_array(self) -> np.ndarray:
        return np.asarray(self.size, dtype=np.float64)

    def dims_array(self) -> np.ndarray:
        return np.asarray(self.dims, dtype=np.int64)


def make_grid(voxel_size: Any, point_range: Any) -> VoxelGrid:
    """Check ``voxel_size`` (3,) and ``point_range`` (6,) = (xmin, ymin, zmin, xmax, ymax, zmax)."""
    size = _floats(voxel_size, 3, "voxel_size")
    rng = _floats(point_range, 6, "point_range")
    dims = []
    for a, name in enumerate("xyz"):
        if size[a] <= 0:
            raise ConfigError(f"{_WHERE}: voxel_size[{name}] must be > 0, got {size[a]}")
        extent = rng[a + 3] - rng[a]
        if extent <= 0:
            raise ConfigError(
                f"{_WHERE}: point_range {name}max must exceed {name}min, got {rng[a]}..{rng[a + 3]}"
            )
        ratio = extent / size[a]
        n = round(ratio)
        if n < 1 or abs(ratio - n) > 1e-4 * max(1.0, ratio):
            raise ConfigError(
                f"{_WHERE}: point_range {name} extent {extent} is not a whole number of voxel_size[{name}]"
                f" = {size[a]} (ratio {ratio:.6f})"
            )
        dims.append(int(n))
    if dims[0] * dims[1] * dims[2] >= 2**62:
        raise ConfigError(f"{_WHERE}: grid of {dims} cells is too large")
    return VoxelGrid(
        lo=(rng[0], rng[1], rng[2]), size=(size[0], size[1], size[2]), dims=(dims[0], dims[1], dims[2])
    )


def check_limits(mode: str, backend: str, max_points: Any, max_voxels: Any) -> tuple[int, int]:
    """Check ``mode``/``backend`` names and the capacities; dynamic mode ignores the capacities."""
    if mode not in MODES:
        raise ConfigError(f"{_WHERE}: mode must be one of {MODES}, got {mode!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"{_WHERE}: backend must be one of {BACKENDS}, got {backend!r}")
    if mode == "dynamic":
        return 2**62, 2**62
    out = []
    for name, value in (("max_points", max_points), ("max_voxels", max_voxels)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{_WHERE}: {name} must be an integer >= 1 in hard mode, got {value!r}")
        out.append(int(value))
    return out[0], out[1]


def check_points(shape: tuple[int, ...], dtype_name: str) -> None:
    """Points must be (N, C >= 3) float32 or float64 (columns x, y, z, then features)."""
    if len(shape) != 2 or shape[1] < 3:
        raise DataError(
            _WHERE, f"expected an (N, C>=3) array of x, y, z[, features], got shape {shape}", "points"
        )
    if shape[0] >= 2**31:
        raise DataError(_WHERE, f"at most 2**31 - 1 points per call, got {shape[0]}", "points")
    if dtype_name not in ("float32", "float64"):
        raise DataError(_WHERE, f"expected float32 or float64 points, got dtype {dtype_name}", "points")


def _floats(value: Any, n: int, name: str) -> list[float]:
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_WHERE}: {name} must be {n} numbers, got {value!r}") from exc
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise ConfigError(f"{_WHERE}: {name} must be {n} finite numbers, got {value!r}")
    return out
