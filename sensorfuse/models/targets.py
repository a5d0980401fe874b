"""CenterPoint training targets: Gaussian class heatmaps and per-object regression targets on the BEV grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sensorfuse.models.grid import BEVGridSpec

#: Regression columns: centre offset in the cell (2), z (1), log l, w, h (3), sin/cos yaw (2), vx, vy (2).
REG_COLUMNS = ("dx", "dy", "z", "log_l", "log_w", "log_h", "sin_yaw", "cos_yaw", "vx", "vy")


@dataclass
class CenterTargets:
    """Targets of a batch.

    Attributes:
        heatmap: (B, num_classes, ny, nx) Gaussian peaks, 1 at object centres.
        index: (B, K) int64 flat cell ``iy * nx + ix`` of each object (0 for padding).
        mask: (B, K) bool, real objects.
        regression: (B, K, 10) in :data:`REG_COLUMNS` order (NaN velocity = unknown).
        attribute: (B, K) int64, -1 = none.
    """

    heatmap: torch.Tensor
    index: torch.Tensor
    mask: torch.Tensor
    regression: torch.Tensor
    attribute: torch.Tensor


def gaussian_radius(length: float, width: float, min_overlap: float) -> float:
    """CornerNet radius (in cells) so that a box shifted by it still has IoU >= ``min_overlap``."""
    h, w = length, width
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: torch.Tensor, ix: int, iy: int, radius: int) -> None:
    """Max-splat a Gaussian peak (sigma = diameter / 6) centred on cell (iy, ix) into (ny, nx) ``heatmap``."""
    ny, nx = heatmap.shape
    sigma = (2 * radius + 1) / 6
    r = torch.arange(-radius, radius + 1, dtype=heatmap.dtype, device=heatmap.device)
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    y0, y1 = max(0, iy - radius), min(ny, iy + radius + 1)
    x0, x1 = max(0, ix - radius), min(nx, ix + radius + 1)
    patch = g[y0 - iy + radius : y1 - iy + radius, x0 - ix + radius : x1 - ix + radius]
    torch.maximum(heatmap[y0:y1, x0:x1], patch, out=heatmap[y0:y1, x0:x1])


def build_targets(
    grid: BEVGridSpec,
    boxes: list[torch.Tensor],
    labels: list[torch.Tensor],
    attributes: list[torch.Tensor],
    num_classes: int,
    max_objects: int,
    min_overlap: float,
    min_radius: int,
) -> CenterTargets:
    """Targets from per-sample (M_i, 9) boxes, (M_i,) labels, (M_i,) attributes in the reference frame."""
    b = len(boxes)
    heat = torch.zeros(b, num_classes, grid.ny, grid.nx)
    index = torch.zeros(b, max_objects, dtype=torch.long)
    mask = torch.zeros(b, max_objects, dtype=torch.bool)
    reg = torch.zeros(b, max_objects, len(REG_COLUMNS))
    attr = torch.full((b, max_objects), -1, dtype=torch.long)
    for i in range(b):
        bx = boxes[i].detach().float().cpu()
        ix, iy, inside = grid.cell_of(bx[:, :2])
        inside &= (bx[:, 3:6] > 0).all(1) & (labels[i].cpu() >= 0) & (labels[i].cpu() < num_classes)
        keep = torch.nonzero(inside).flatten()[:max_objects]
        for k, j in enumerate(keep.tolist()):
            box, cx, cy = bx[j], int(ix[j]), int(iy[j])
            r = gaussian_radius(float(box[3]) / grid.cell, float(box[4]) / grid.cell, min_overlap)
            draw_gaussian(heat[i, int(labels[i][j])], cx, cy, max(min_radius, int(r)))
            index[i, k] = cy * grid.nx + cx
            mask[i, k] = True
            vel = box[7:9] if len(box) >= 9 else torch.full((2,), float("nan"))
            reg[i, k] = torch.cat(
                [
                    torch.stack(
                        [
                            (box[0] - grid.x_range[0]) / grid.cell - cx,
                            (box[1] - grid.y_range[0]) / grid.cell - cy,
                        ]
                    ),
                    box[2:3],
                    box[3:6].log(),
                    torch.stack([box[6].sin(), box[6].cos()]),
                    vel,
                ]
            )
            attr[i, k] = int(attributes[i][j])
    return CenterTargets(heat, index, mask, reg, attr)
