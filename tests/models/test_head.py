from __future__ import annotations

import math

import numpy as np
import torch

from sensorfuse.classes import ATTRIBUTE_INDEX, CLASS_INDEX
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.head import center_losses, circle_nms, decode, gaussian_focal_loss
from sensorfuse.models.targets import build_targets, gaussian_radius

GRID = BEVGridSpec((-12.8, 12.8), (-12.8, 12.8), (-3, 3), 0.8)
BOXES = torch.tensor(
    [[1.3, -2.1, -0.5, 4.5, 1.9, 1.6, 0.7, 3.0, -1.0], [-6.0, 5.0, -0.9, 0.7, 0.6, 1.8, -2.0, 0.5, 0.2]]
)
LABELS = torch.tensor([CLASS_INDEX["car"], CLASS_INDEX["pedestrian"]])
ATTRS = torch.tensor([ATTRIBUTE_INDEX["vehicle.moving"], ATTRIBUTE_INDEX["pedestrian.standing"]])


def _targets() -> object:
    return build_targets(GRID, [BOXES], [LABELS], [ATTRS], 10, 8, 0.1, 2)


def test_targets_peak_at_centres() -> None:
    t = _targets()
    assert t.mask[0].sum() == 2
    ix = math.floor((1.3 + 12.8) / 0.8)
    iy = math.floor((-2.1 + 12.8) / 0.8)
    assert t.heatmap[0, 0, iy, ix] == 1.0 and t.index[0, 0] == iy * GRID.nx + ix
    assert t.heatmap[0, 0].eq(1).sum() == 1 and t.heatmap[0, 8].eq(1).sum() == 1
    assert t.heatmap[0, 1:8].sum() == 0
    assert torch.allclose(t.regression[0, 0, 3:6], BOXES[0, 3:6].log())
    assert gaussian_radius(5.6, 2.4, 0.1) > 0


def test_boxes_outside_grid_are_ignored() -> None:
    far = BOXES.clone()
    far[:, 0] = 30.0
    t = build_targets(GRID, [far], [LABELS], [ATTRS], 10, 8, 0.1, 2)
    assert t.mask.sum() == 0 and t.heatmap.sum() == 0


def _perfect_outputs(t: object) -> dict[str, torch.Tensor]:
    heat = torch.logit(t.heatmap.clamp(1e-4, 1 - 1e-4))
    reg = torch.zeros(1, 10, GRID.ny * GRID.nx)
    attr = torch.zeros(1, 8, GRID.ny * GRID.nx)
    for k in range(int(t.mask[0].sum())):
        reg[0, :, t.index[0, k]] = t.regression[0, k]
        attr[0, t.attribute[0, k], t.index[0, k]] = 5.0
    return {
        "heatmap": heat,
        "regression": reg.view(1, 10, GRID.ny, GRID.nx),
        "attribute": attr.view(1, 8, GRID.ny, GRID.nx),
    }


def test_decode_inverts_targets() -> None:
    t = _targets()
    out = decode(
        _perfect_outputs(t), GRID, top_k=50, score_threshold=0.99, nms_radius=(4.0,) * 10, max_detections=10
    )
    det = out[0]
    assert len(det) == 2
    order = np.argsort(det.labels)
    np.testing.assert_allclose(det.boxes[order], BOXES.numpy(), atol=1e-4)
    assert det.labels[order].tolist() == LABELS.tolist()
    assert det.attributes[order].tolist() == ATTRS.tolist()


def test_losses_small_for_perfect_outputs_and_large_for_wrong() -> None:
    t = _targets()
    good = center_losses(_perfect_outputs(t), t, 1.0, 1.0, 1.0)
    bad = center_losses({k: torch.zeros_like(v) for k, v in _perfect_outputs(t).items()}, t, 1.0, 1.0, 1.0)
    for k in good:
        assert good[k] < bad[k], k
    assert good["loss_regression"] < 1e-5


def test_focal_loss_no_objects_is_finite() -> None:
    assert torch.isfinite(gaussian_focal_loss(torch.zeros(1, 10, 4, 4), torch.zeros(1, 10, 4, 4)))


def test_circle_nms_suppresses_near_same_class() -> None:
    centres = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0]])
    keep = circle_nms(centres, np.array([0.9, 0.95, 0.5]), radius=1.0)
    assert keep.tolist() == [1, 2]
    assert sorted(circle_nms(centres, np.array([0.9, 0.95, 0.5]), radius=0.0).tolist()) == [0, 1, 2]
