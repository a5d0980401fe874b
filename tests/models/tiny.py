"""Tiny synthetic samples and a tiny model config for the model tests (no generated world needed).

A module of its own, not conftest.py: ``from conftest import ...`` picks whichever tests/*/conftest.py was
imported first, so it broke when the model tests ran in one session with another folder's tests.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sensorfuse.models.config import (
    CameraConfig,
    DecoderConfig,
    FuserConfig,
    HeadConfig,
    LidarConfig,
    ModelConfig,
    RadarConfig,
)
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.structures import (
    Boxes3D,
    CameraSet,
    PointCloud,
    RadarPoints,
    SampleMeta,
    SensorSample,
)

IMAGE_HW = (32, 88)


def tiny_config(fuser: str = "transformer", **kw: object) -> ModelConfig:
    """A 16 x 16 BEV at 1.6 m (±12.8 m), 8 depth bins, one-stage backbones: seconds on a CPU."""
    cfg = ModelConfig(
        grid=BEVGridSpec((-12.8, 12.8), (-12.8, 12.8), (-3.0, 3.0), 1.6),
        lidar=LidarConfig(
            pillar_size=0.8,
            max_points_per_pillar=8,
            max_pillars=4000,
            pfn_channels=8,
            backbone_channels=(8, 16),
            out_channels=16,
        ),
        camera=CameraConfig(
            stem_channels=8,
            stage_channels=(8, 16, 16),
            neck_channels=16,
            depth_min=1.0,
            depth_max=13.0,
            depth_step=1.5,
            out_channels=16,
            depth_loss_weight=0.5,
        ),
        radar=RadarConfig(pillar_size=1.6, pfn_channels=8, backbone_channels=(8,), out_channels=8),
        fuser=FuserConfig(kind=fuser, channels=16, window=4, layers=2, heads=2, dim=16),
        decoder=DecoderConfig(channels=16, blocks=1),
        head=HeadConfig(channels=16, max_objects=20, top_k=50, score_threshold=0.0),
    )
    return replace(cfg, **kw)  # type: ignore[arg-type]


def _camera_rig(n_cam: int) -> tuple[np.ndarray, np.ndarray]:
    """n cameras 1.5 m up, looking outward at evenly spaced yaws: intrinsics (n,3,3), cam_from_ref (n,4,4)."""
    h, w = IMAGE_HW
    k = np.array([[w / 2, 0, w / 2], [0, w / 2, h / 2], [0, 0, 1]], np.float32)
    mats = []
    for i in range(n_cam):
        t = 2 * math.pi * i / n_cam
        fwd, right, down = (
            np.array([math.cos(t), math.sin(t), 0]),
            np.array([math.sin(t), -math.cos(t), 0]),
            np.array([0, 0, -1.0]),
        )
        r = np.stack([right, down, fwd])  # rows: camera axes in the reference frame
        m = np.eye(4)
        m[:3, :3] = r
        m[:3, 3] = -r @ np.array([0.0, 0.0, 1.5])
        mats.append(m)
    return np.repeat(k[None], n_cam, 0), np.stack(mats).astype(np.float32)


def make_sample(
    rng: np.random.Generator,
    token: str,
    n_boxes: int = 3,
    n_cam: int = 4,
    lidar: bool = True,
    radar: bool = True,
    camera: bool = True,
) -> SensorSample:
    """Random boxes (cars/pedestrians) within 10 m, LiDAR points inside and around them, radar at centres."""
    labels = rng.choice([0, 8], size=n_boxes).astype(np.int64)
    xy = rng.uniform(-9, 9, size=(n_boxes, 2))
    size = np.where(labels[:, None] == 0, [4.5, 1.9, 1.6], [0.7, 0.7, 1.8])
    vel = rng.normal(0, 2, size=(n_boxes, 2))
    boxes = np.concatenate(
        [xy, size[:, 2:3] / 2 - 1.8, size, rng.uniform(-3, 3, (n_boxes, 1)), vel], 1
    ).astype(np.float32)
    attrs = np.where(labels == 0, 0, 3).astype(np.int64)
    gt = Boxes3D(
        boxes, labels, attrs, np.ones(n_boxes, np.float32), np.full(n_boxes, 30), np.full(n_boxes, 1)
    )
    pts = [
        np.c_[
            b[:3] + rng.uniform(-0.5, 0.5, (30, 3)) * b[3:6], rng.uniform(0, 255, (30, 1)), np.zeros((30, 1))
        ]
        for b in boxes
    ]
    ground = np.c_[
        rng.uniform(-12, 12, (200, 2)),
        np.full((200, 1), -1.8),
        rng.uniform(0, 255, (200, 1)),
        rng.uniform(0, 0.5, (200, 1)),
    ]
    lidar_pts = np.concatenate([*pts, ground]).astype(np.float32)
    radar_pts = np.c_[
        boxes[:, :3], vel, rng.normal(5, 3, (n_boxes, 1)), rng.choice([0.0, 0.08, 0.16], (n_boxes, 1))
    ].astype(np.float32)
    cams = None
    if camera:
        k, cfr = _camera_rig(n_cam)
        images = rng.integers(0, 255, (n_cam, *IMAGE_HW, 3), dtype=np.uint8)
        cams = CameraSet(tuple(f"CAM_{i}" for i in range(n_cam)), images, k, cfr, np.ones(n_cam, bool))
    meta = SampleMeta(token, "scene-0001", 0, np.eye(4), np.eye(4))
    return SensorSample(
        meta=meta,
        lidar=PointCloud(lidar_pts) if lidar else None,
        radar=RadarPoints(radar_pts) if radar else None,
        cameras=cams,
        gt=gt,
    )
