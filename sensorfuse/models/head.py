"""CenterPoint-style head: class heatmaps + per-cell regression, Gaussian focal / L1 / CE losses, decoding.

Head outputs (all (B, ., ny, nx) on the detector's grid): ``heatmap`` (num_classes logits) and ``regression``
(10 channels, :data:`~sensorfuse.models.targets.REG_COLUMNS`) and ``attribute`` (8 logits).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sensorfuse.classes import ATTRIBUTE_INDEX, ATTRIBUTES, CLASS_ATTRIBUTES, DETECTION_CLASSES
from sensorfuse.models.blocks import conv_bn_relu
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.targets import REG_COLUMNS, CenterTargets
from sensorfuse.structures import Boxes3D

#: Per-column L1 weights (velocity down-weighted as in CenterPoint).
CODE_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2)


def _branch(c_in: int, hidden: int, c_out: int, bias: float = 0.0) -> nn.Sequential:
    last = nn.Conv2d(hidden, c_out, 1)
    if last.bias is not None:
        nn.init.constant_(last.bias, bias)
    return nn.Sequential(conv_bn_relu(c_in, hidden), last)


class CenterHead(nn.Module):
    """(B, in_channels, ny, nx) BEV → dict of ``heatmap`` / ``regression`` / ``attribute`` maps."""

    def __init__(self, in_channels: int, channels: int, num_classes: int = len(DETECTION_CLASSES)) -> None:
        super().__init__()
        self.shared = conv_bn_relu(in_channels, channels)
        self.heatmap = _branch(channels, channels, num_classes, bias=-2.19)  # prior 0.1
        self.regression = _branch(channels, channels, len(REG_COLUMNS))
        self.attribute = _branch(channels, channels, len(ATTRIBUTES))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.shared(x)
        return {"heatmap": self.heatmap(y), "regression": self.regression(y), "attribute": self.attribute(y)}


def gaussian_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CornerNet focal loss on sigmoid heatmaps, normalised by the number of peaks (target == 1)."""
    p = logits.float().sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -(p.log() * (1 - p) ** 2 * pos).sum()
    neg_loss = -((1 - p).log() * p**2 * (1 - target) ** 4 * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def _gather(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, C, ny, nx) at (B, K) flat cells → (B, K, C)."""
    flat = maps.flatten(2)
    return flat.gather(2, index[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


def center_losses(
    outputs: dict[str, torch.Tensor],
    targets: CenterTargets,
    heatmap_weight: float,
    regression_weight: float,
    attribute_weight: float,
) -> dict[str, torch.Tensor]:
    """Weighted ``loss_heatmap``, ``loss_regression``, ``loss_attribute`` (each already multiplied by its weight)."""
    dev = outputs["heatmap"].device
    heat = gaussian_focal_loss(outputs["heatmap"], targets.heatmap.to(dev))
    index, mask = targets.index.to(dev), targets.mask.to(dev)
    pred = _gather(outputs["regression"], index).float()
    tgt = targets.regression.to(dev)
    valid = mask[..., None] & torch.isfinite(tgt)
    w = torch.tensor(CODE_WEIGHTS, device=dev)
    l1 = (pred - torch.nan_to_num(tgt)).abs() * w * valid
    n = mask.sum().clamp(min=1).float()
    reg = l1.sum() / n
    attr_t = torch.where(mask, targets.attribute.to(dev), torch.full_like(index, -1))
    attr_logits = _gather(outputs["attribute"], index).float()
    if bool((attr_t >= 0).any()):
        attr = F.cross_entropy(
            attr_logits.reshape(-1, attr_logits.shape[-1]), attr_t.reshape(-1), ignore_index=-1
        )
    else:
        attr = attr_logits.sum() * 0.0
    return {
        "loss_heatmap": heatmap_weight * heat,
        "loss_regression": regression_weight * reg,
        "loss_attribute": attribute_weight * attr,
    }


def _allowed_attributes() -> torch.Tensor:
    """(num_classes, num_attributes) bool: attribute allowed for the class (the devkit's rule)."""
    m = torch.zeros(len(DETECTION_CLASSES), len(ATTRIBUTES), dtype=torch.bool)
    for c, name in enumerate(DETECTION_CLASSES):
        for a in CLASS_ATTRIBUTES.get(name, ()):
            m[c, ATTRIBUTE_INDEX[a]] = True
    return m


def circle_nms(centres: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Greedy NMS on BEV centre distance: indices kept (by descending score), suppressing within ``radius`` m."""
    order = np.argsort(-scores, kind="stable")
    if radius <= 0 or len(order) <= 1:
        return order
    c = centres[order]
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= d2[i] < radius * radius
    return np.asarray(keep, dtype=np.int64)


def decode(
    outputs: dict[str, torch.Tensor],
    grid: BEVGridSpec,
    top_k: int,
    score_threshold: float,
    nms_radius: tuple[float, ...],
    max_detections: int,
) -> list[Boxes3D]:
    """Top-K heatmap peaks → boxes (reference frame) with per-class circle NMS, one :class:`Boxes3D` per sample."""
    heat = outputs["heatmap"].detach().float().sigmoid()
    b, _, ny, nx = heat.shape
    allowed = _allowed_attributes().to(heat.device)
    results = []
    for i in range(b):
        scores, flat = heat[i].flatten().topk(min(top_k, heat[i].numel()))
        keep = scores >= score_threshold
        scores, flat = scores[keep], flat[keep]
        cls, cell = flat // (ny * nx), flat % (ny * nx)
        iy, ix = cell // nx, cell % nx
        reg = outputs["regression"][i].detach().float().flatten(1)[:, cell].t()  # (k, 10)
        x = grid.x_range[0] + (ix.float() + reg[:, 0]) * grid.cell
        y = grid.y_range[0] + (iy.float() + reg[:, 1]) * grid.cell
        size = reg[:, 3:6].clamp(max=5.0).exp()
        yaw = torch.atan2(reg[:, 6], reg[:, 7])
        boxes = torch.cat([x[:, None], y[:, None], reg[:, 2:3], size, yaw[:, None], reg[:, 8:10]], dim=1)
        attr_logits = outputs["attribute"][i].detach().float().flatten(1)[:, cell].t()
        ok = allowed[cls]
        attr = attr_logits.masked_fill(~ok, float("-inf")).argmax(1)
        attr = torch.where(ok.any(1), attr, torch.full_like(attr, -1))
        results.append(
            _nms_per_class(
                boxes.cpu().numpy(),
                scores.cpu().numpy(),
                cls.cpu().numpy(),
                attr.cpu().numpy(),
                nms_radius,
                max_detections,
            )
        )
    return results


def _nms_per_class(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    attrs: np.ndarray,
    radius: tuple[float, ...],
    max_det: int,
) -> Boxes3D:
    keep_parts = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep_parts.append(idx[circle_nms(boxes[idx, :2], scores[idx], radius[int(c)])])
    keep = np.concatenate(keep_parts) if keep_parts else np.zeros(0, np.int64)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max_det]
    n = len(keep)
    return Boxes3D(
        boxes=boxes[keep].astype(np.float32),
        labels=labels[keep].astype(np.int64),
        attributes=attrs[keep].astype(np.int64),
        scores=scores[keep].astype(np.float32),
        num_lidar_pts=np.full(n, -1, np.int64),
        num_radar_pts=np.full(n, -1, np.int64),
    )
