"""LSS camera encoder: image backbone + neck → per-pixel depth distribution → frustum → bev_pool → BEV.

Two stages, timed separately by the latency benchmark:

* :meth:`CameraEncoder.image_features` — images (B, N_cam, 3, H, W) uint8 → (B, N_cam, C, h, w), run only
  on present cameras (absent ones stay zero and are never splatted);
* :meth:`CameraEncoder.view_transform` — depth bins × context features, lifted along each pixel's ray
  (frustum in the reference frame) and sum-pooled into the BEV grid with :func:`sensorfuse.ops.bev_pool`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sensorfuse.models.blocks import ImageBackbone, TorchvisionBackbone, conv_bn_relu, res_stage
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.parts import Encoder, ShapeSpec
from sensorfuse.ops import bev_pool

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


@dataclass
class CameraBEV:
    """Output of the view transform: ``bev`` (B, C, ny, nx) and ``depth_logits`` (B, N_cam, D, h, w)."""

    bev: torch.Tensor
    depth_logits: torch.Tensor


class CameraEncoder(Encoder):
    """Images → camera BEV (B, out_channels, ny, nx) on the detector's grid; ``backbone`` declares its channels."""

    depths: torch.Tensor  # (D,) bin centres, metres
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        grid: BEVGridSpec,
        backbone: Encoder,
        depth_min: float,
        depth_max: float,
        depth_step: float,
        context_channels: int,
        out_channels: int,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.backbone = backbone
        c_in = backbone.output_shape().channels
        n_bins = round((depth_max - depth_min) / depth_step)
        self.register_buffer(
            "depths",
            depth_min + (torch.arange(n_bins, dtype=torch.float32) + 0.5) * depth_step,
            persistent=False,
        )
        self.depth_min, self.depth_step = depth_min, depth_step
        self.lift = nn.Conv2d(c_in, n_bins + context_channels, 1)
        self.bev_conv = nn.Sequential(
            conv_bn_relu(context_channels, out_channels), res_stage(out_channels, out_channels, 1, 1)
        )
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.out_channels = out_channels
        self.num_bins = n_bins

    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(self.out_channels, grid=self.grid)

    def image_features(self, images: torch.Tensor, cam_present: torch.Tensor) -> torch.Tensor:
        """(B, N, 3, H, W) uint8, (B, N) bool → (B, N, C, h, w); absent cameras are zeros and never used."""
        b, n = images.shape[:2]
        flat = images.flatten(0, 1)[cam_present.flatten()]
        feats = self.backbone((flat.float() - self.mean) / self.std)
        out = feats.new_zeros((b * n, *feats.shape[1:]))
        out[cam_present.flatten()] = feats
        return out.view(b, n, *feats.shape[1:])

    def view_transform(
        self,
        feats: torch.Tensor,
        intrinsics: torch.Tensor,
        cam_from_ref: torch.Tensor,
        cam_present: torch.Tensor,
        image_hw: tuple[int, int],
    ) -> CameraBEV:
        """Lift-splat: (B, N, C, h, w) image features → :class:`CameraBEV` on the detector's grid."""
        b, n, _, h, w = feats.shape
        out = self.lift(feats.flatten(0, 1))  # (B*N, D + C, h, w)
        depth_logits = out[:, : self.num_bins]
        context = out[:, self.num_bins :]
        volume = depth_logits.softmax(1)[:, :, None] * context[:, None]  # (B*N, D, C, h, w)
        volume = volume.view(b, n, self.num_bins, -1, h, w).permute(0, 1, 2, 4, 5, 3)  # B x N x D x h x w x C
        cells = self.frustum_cells(intrinsics, cam_from_ref, cam_present, (h, w), image_hw)
        bev = bev_pool(volume.contiguous(), cells, self.grid.shape)
        return CameraBEV(self.bev_conv(bev), depth_logits.view(b, n, self.num_bins, h, w))

    def frustum_cells(
        self,
        intrinsics: torch.Tensor,
        cam_from_ref: torch.Tensor,
        cam_present: torch.Tensor,
        feat_hw: tuple[int, int],
        image_hw: tuple[int, int],
    ) -> torch.Tensor:
        """Flat BEV cell (B, N, D, h, w) int64 of every frustum point (-1 outside the grid or absent camera)."""
        h, w = feat_hw
        dev = intrinsics.device
        sy, sx = image_hw[0] / h, image_hw[1] / w
        v = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * sy - 0.5
        u = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * sx - 0.5
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        d = self.depths.view(-1, 1, 1)
        pix = torch.stack([uu * d, vv * d, d.expand(-1, h, w)], dim=-1)  # (D, h, w, 3) = depth * (u, v, 1)
        cam_from_pix = torch.linalg.inv(intrinsics.float())  # (B, N, 3, 3)
        ref_from_cam = torch.linalg.inv(cam_from_ref.float())  # (B, N, 4, 4)
        ref_from_pix = ref_from_cam[..., :3, :3] @ cam_from_pix
        pts = (
            torch.einsum("bnij,dhwj->bndhwi", ref_from_pix, pix) + ref_from_cam[..., None, None, None, :3, 3]
        )
        cells = self.grid.flat_index(pts)
        return torch.where(cam_present[:, :, None, None, None], cells, torch.full_like(cells, -1))

    def depth_targets(
        self,
        lidar: list[torch.Tensor],
        intrinsics: torch.Tensor,
        cam_from_ref: torch.Tensor,
        feat_hw: tuple[int, int],
        image_hw: tuple[int, int],
    ) -> torch.Tensor:
        """Depth-bin target (B, N, h, w) int64 of the nearest LiDAR return in each feature pixel, -1 if none."""
        b, n = intrinsics.shape[:2]
        h, w = feat_hw
        out = torch.full((b, n, h * w), -1, dtype=torch.long, device=intrinsics.device)
        for i, pts in enumerate(lidar):
            if len(pts) == 0:
                continue
            p = pts[:, :3].float()
            cam = (
                torch.einsum("nij,pj->npi", cam_from_ref[i, :, :3, :3].float(), p)
                + cam_from_ref[i, :, None, :3, 3]
            )
            uvw = torch.einsum("nij,npj->npi", intrinsics[i].float(), cam)
            depth = uvw[..., 2]
            ok = depth > 1e-3
            u = uvw[..., 0] / depth.clamp(min=1e-3) / (image_hw[1] / w)
            v = uvw[..., 1] / depth.clamp(min=1e-3) / (image_hw[0] / h)
            bins = torch.floor((depth - self.depth_min) / self.depth_step).long()
            ok &= (u >= 0) & (u < w) & (v >= 0) & (v < h) & (bins >= 0) & (bins < self.num_bins)
            pix = v.long().clamp(0, h - 1) * w + u.long().clamp(0, w - 1)
            big = torch.full_like(bins, self.num_bins)
            best = torch.full((n, h * w), self.num_bins, dtype=torch.long, device=out.device)
            best.scatter_reduce_(1, pix, torch.where(ok, bins, big), "amin")
            out[i] = torch.where(best < self.num_bins, best, torch.full_like(best, -1))
        return out.view(b, n, h, w)


def depth_loss(depth_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (B, N, D, h, w) depth logits against (B, N, h, w) bin targets (-1 ignored)."""
    if not bool((targets >= 0).any()):
        return depth_logits.sum() * 0.0
    logits = depth_logits.permute(0, 1, 3, 4, 2).reshape(-1, depth_logits.shape[2])
    return F.cross_entropy(logits, targets.reshape(-1), ignore_index=-1)


def build_image_backbone(
    kind: str, stem: int, stage_channels: tuple[int, ...], blocks: int, out_channels: int
) -> Encoder:
    """``resnet_lite`` (:class:`ImageBackbone`) or ``torchvision_resnet18`` (needs torchvision)."""
    from sensorfuse.errors import ConfigError

    if kind == "resnet_lite":
        return ImageBackbone(stem, stage_channels, blocks, out_channels)
    if kind == "torchvision_resnet18":
        return TorchvisionBackbone(out_channels)
    raise ConfigError(f"camera.backbone: unknown {kind!r}; expected 'resnet_lite' or 'torchvision_resnet18'")
