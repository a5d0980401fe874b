from __future__ import annotations

import torch
from tiny import tiny_config

from sensorfuse.models import build_detector
from sensorfuse.models.summary import random_batch, stage_times

STAGES = {
    "voxelize_lidar",
    "lidar_encoder",
    "voxelize_radar",
    "radar_encoder",
    "camera_encoder",
    "view_transform",
    "fuser",
    "head",
    "postprocess",
}


def test_stage_times_names_every_stage() -> None:
    cfg = tiny_config()
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    batch = random_batch(cfg, n_cam=2, image_hw=(32, 88), lidar_points=500, radar_points=20)
    times = stage_times(model, batch, runs=1, sync=False)
    assert set(times) == STAGES
    assert all(len(t) == 1 and t[0] >= 0 for t in times.values())
