"""Point encoders: voxelize → PointNet per pillar → scatter to a BEV canvas → 2D backbone.

Used for LiDAR (columns x, y, z, intensity, time_lag) and radar (x, y, z, vx_comp, vy_comp, rcs, time_lag).
Voxelization (:func:`sensorfuse.ops.voxelize`) is a separate step, :meth:`PillarEncoder.voxelize`, so
the latency benchmark can time it apart from the network.
"""

from __future__ import annotations

import torch
from torch import nn

from sensorfuse.models.blocks import BEVBackbone
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.parts import Encoder, ShapeSpec
from sensorfuse.ops import VoxelResult, voxelize


class PillarFeatureNet(nn.Module):
    """PointNet over the points of each pillar.

    Input per point: its C columns (times ``feature_scale``), offsets to the pillar's point mean (3) and to
    the pillar centre (2). (V, P, C) voxels + (V,) counts + (V, 3) zyx coords → (V, out_channels).
    """

    scale: torch.Tensor

    def __init__(
        self, in_columns: int, out_channels: int, grid: BEVGridSpec, feature_scale: tuple[float, ...]
    ) -> None:
        super().__init__()
        self.grid = grid
        self.linear = nn.Linear(in_columns + 5, out_channels, bias=False)
        self.norm = nn.BatchNorm1d(out_channels)
        self.register_buffer("scale", torch.tensor(feature_scale, dtype=torch.float32), persistent=False)
        self.out_channels = out_channels

    def point_features(
        self, voxels: torch.Tensor, num_points: torch.Tensor, coords: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each point slot's input features (V, P, C + 5): its columns x ``scale``, its offset to the pillar's
        point mean (x, y, z) and to the pillar's centre (x, y); and the (V, P) mask of valid slots."""
        p = voxels.shape[1]
        valid = torch.arange(p, device=voxels.device)[None, :] < num_points[:, None]  # (V, P)
        n = num_points.clamp(min=1).to(voxels.dtype)[:, None]
        mean = (voxels[..., :3] * valid[..., None]).sum(1) / n  # (V, 3)
        g = self.grid
        centre = torch.stack(
            [
                g.x_range[0] + (coords[:, 2].to(voxels.dtype) + 0.5) * g.cell,
                g.y_range[0] + (coords[:, 1].to(voxels.dtype) + 0.5) * g.cell,
            ],
            dim=1,
        )
        feats = torch.cat(
            [voxels * self.scale, voxels[..., :3] - mean[:, None], voxels[..., :2] - centre[:, None]], dim=-1
        )
        return feats, valid

    def forward(self, voxels: torch.Tensor, num_points: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        v, p, _ = voxels.shape
        feats, valid = self.point_features(voxels, num_points, coords)
        h = self.linear(feats[valid])  # (N_valid, out)
        if h.shape[0] > 1 or not self.training:  # BatchNorm needs two values per channel in training
            h = self.norm(h)
        h = torch.relu(h)
        owner = torch.arange(v, device=voxels.device)[:, None].expand(v, p)[valid]
        out = torch.zeros(v, self.out_channels, dtype=h.dtype, device=h.device)
        return out.scatter_reduce(0, owner[:, None].expand_as(h), h, "amax", include_self=True)  # h >= 0


class PillarEncoder(Encoder):
    """Points → BEV map (B, out_channels, ny, nx) on the detector's grid.

    Pillars of ``pillar_size`` m form a canvas ``stride = grid.cell / pillar_size`` times finer than the
    BEV grid; the backbone downsamples it by ``stride``.
    """

    def __init__(
        self,
        grid: BEVGridSpec,
        in_columns: int,
        feature_scale: tuple[float, ...],
        pillar_size: float,
        max_points: int,
        max_pillars: int,
        pfn_channels: int,
        backbone_channels: tuple[int, ...],
        blocks: int,
        out_channels: int,
        name: str,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.stride = grid.stride_for(pillar_size, f"{name}.pillar_size")
        self.pillar_grid = grid.finer(self.stride)
        self.max_points, self.max_pillars = max_points, max_pillars
        self.pfn = PillarFeatureNet(in_columns, pfn_channels, self.pillar_grid, feature_scale)
        self.backbone = BEVBackbone(pfn_channels, backbone_channels, blocks, self.stride, out_channels)
        self.out_channels = out_channels

    def output_shape(self) -> ShapeSpec:
        """(B, out_channels, ny, nx) on the detector's grid."""
        return ShapeSpec(self.out_channels, grid=self.grid)

    def voxelize(self, points: list[torch.Tensor], present: torch.Tensor) -> list[VoxelResult | None]:
        """Pillars of each sample's (N_i, C) points; None for samples where the modality is absent."""
        g = self.pillar_grid
        size = (g.cell, g.cell, g.z_range[1] - g.z_range[0])
        out: list[VoxelResult | None] = []
        for pts, here in zip(points, present.tolist()):
            if not here:
                out.append(None)
                continue
            out.append(
                voxelize(pts.float(), size, g.point_range, self.max_points, self.max_pillars, mode="hard")
            )
        return out

    def scatter(self, voxels: list[VoxelResult | None]) -> torch.Tensor:
        """Pillar features scattered to the canvas (B, pfn_channels, ny * stride, nx * stride)."""
        g = self.pillar_grid
        device = self.pfn.linear.weight.device
        b_n, cells = len(voxels), g.ny * g.nx
        canvas = torch.zeros(b_n * cells, self.pfn.out_channels, device=device)
        parts = [(b, vr) for b, vr in enumerate(voxels) if vr is not None and vr.num_voxels > 0]
        if parts:
            vox = torch.cat([vr.voxels for _, vr in parts]).to(device)
            num = torch.cat([vr.num_points for _, vr in parts]).to(device).long()
            coords = torch.cat([vr.coords for _, vr in parts]).to(device).long()
            sample = torch.cat([torch.full((vr.num_voxels,), b, dtype=torch.long) for b, vr in parts]).to(
                device
            )
            canvas[sample * cells + coords[:, 1] * g.nx + coords[:, 2]] = self.pfn(vox, num, coords)
        return canvas.view(b_n, g.ny, g.nx, -1).permute(0, 3, 1, 2).contiguous()

    def forward(self, voxels: list[VoxelResult | None]) -> torch.Tensor:
        """Voxelized points (from :meth:`voxelize`) → (B, out_channels, ny, nx)."""
        out: torch.Tensor = self.backbone(self.scatter(voxels))
        return out
