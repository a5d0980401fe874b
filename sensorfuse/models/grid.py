"""The BEV grid every encoder, fuser and head shares, declared once in :class:`ModelConfig`.

Grid axes follow the reference frame (LIDAR_TOP at the keyframe)::

       +y  ^   row iy = floor((y - y_min) / cell)      a BEV map is (B, C, ny, nx):
           |                                          map[b, c, iy, ix] is the cell whose
           |   cell (iy, ix)                          centre is (x_min + (ix + .5) * cell,
           +--------> +x   col ix = floor((x - x_min) / cell)       y_min + (iy + .5) * cell)

The flat cell index used by :func:`sensorfuse.ops.bev_pool` is ``iy * nx + ix`` (-1 = outside the grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sensorfuse.errors import ConfigError


@dataclass(frozen=True)
class BEVGridSpec:
    """A square-celled BEV grid in the reference frame.

    Attributes:
        x_range / y_range: (min, max) metres covered by the grid.
        z_range: (min, max) metres of the height slab that is projected into the grid.
        cell: cell edge length, metres.
    """

    x_range: tuple[float, float] = (-51.2, 51.2)
    y_range: tuple[float, float] = (-51.2, 51.2)
    z_range: tuple[float, float] = (-5.0, 3.0)
    cell: float = 0.8

    def __post_init__(self) -> None:
        for name in ("x_range", "y_range", "z_range"):
            lo, hi = getattr(self, name)
            if not hi > lo:
                raise ConfigError(f"BEVGridSpec.{name}: max must exceed min, got ({lo}, {hi})")
        if self.cell <= 0:
            raise ConfigError(f"BEVGridSpec.cell must be > 0, got {self.cell}")
        for name, (lo, hi) in (("x_range", self.x_range), ("y_range", self.y_range)):
            n = (hi - lo) / self.cell
            if abs(n - round(n)) > 1e-6:
                raise ConfigError(
                    f"BEVGridSpec.{name} length {hi - lo} is not a multiple of cell {self.cell}"
                )

    @property
    def nx(self) -> int:
        return round((self.x_range[1] - self.x_range[0]) / self.cell)

    @property
    def ny(self) -> int:
        return round((self.y_range[1] - self.y_range[0]) / self.cell)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx), the spatial shape of every BEV map."""
        return (self.ny, self.nx)

    @property
    def point_range(self) -> tuple[float, float, float, float, float, float]:
        """(xmin, ymin, zmin, xmax, ymax, zmax) as :func:`sensorfuse.ops.voxelize` takes it."""
        return (
            self.x_range[0],
            self.y_range[0],
            self.z_range[0],
            self.x_range[1],
            self.y_range[1],
            self.z_range[1],
        )

    def finer(self, stride: int) -> BEVGridSpec:
        """The same area at ``cell / stride`` (an encoder's working grid, downsampled by ``stride``)."""
        if stride < 1:
            raise ConfigError(f"BEVGridSpec.finer: stride must be >= 1, got {stride}")
        return BEVGridSpec(self.x_range, self.y_range, self.z_range, self.cell / stride)

    def stride_for(self, size: float, what: str) -> int:
        """Integer stride ``cell / size`` for a finer cell ``size``; ConfigError if it does not divide."""
        s = self.cell / size
        if abs(s - round(s)) > 1e-6 or round(s) < 1:
            raise ConfigError(
                f"{what}: size {size} m must divide the BEV cell {self.cell} m an integer number of times"
            )
        return round(s)

    def cell_of(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cell of points ``xy`` (..., >=2) metres → (ix, iy, inside) int64, int64, bool (same leading shape)."""
        ix = torch.floor((xy[..., 0] - self.x_range[0]) / self.cell).long()
        iy = torch.floor((xy[..., 1] - self.y_range[0]) / self.cell).long()
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return ix, iy, inside

    def flat_index(self, xyz: torch.Tensor) -> torch.Tensor:
        """Flat cell index ``iy * nx + ix`` of points (..., 3), -1 outside the grid or the z slab (int64)."""
        ix, iy, inside = self.cell_of(xyz)
        z = xyz[..., 2]
        inside = inside & (z >= self.z_range[0]) & (z < self.z_range[1]) & torch.isfinite(z)
        return torch.where(inside, iy * self.nx + ix, torch.full_like(ix, -1))

    def centers(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Cell centres (ny, nx, 2) as (x, y) metres, float32."""
        xs = self.x_range[0] + (torch.arange(self.nx, device=device, dtype=torch.float32) + 0.5) * self.cell
        ys = self.y_range[0] + (torch.arange(self.ny, device=device, dtype=torch.float32) + 0.5) * self.cell
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy], dim=-1)

    @property
    def diagonal(self) -> float:
        return math.hypot(self.x_range[1] - self.x_range[0], self.y_range[1] - self.y_range[0])
