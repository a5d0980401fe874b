"""Builders of a tiny structured sample for the corruption tests: LiDAR on the 32 HDL-32E rings, two annotated objects
with points inside, radar returns, six small textured cameras, the LiDAR 1.84 m above the ground."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sensorfuse.classes import CLASS_INDEX
from sensorfuse.corrupt.common import HDL32_LOWEST_DEG, HDL32_SPACING_DEG
from sensorfuse.models.fake import fake_sample
from sensorfuse.structures import Boxes3D, PointCloud, SensorSample

SENSOR_HEIGHT = 1.84
#: (x, y, z, l, w, h, yaw, vx, vy): a car ahead, a pedestrian to the left
BOXES = np.array(
    [[12.0, 1.0, -0.9, 4.5, 1.9, 1.6, 0.2, 0.0, 0.0], [4.0, 6.0, -0.95, 0.7, 0.6, 1.8, 0.0, 0.0, 0.0]],
    np.float32,
)


def ring_cloud(rng: np.random.Generator, per_ring: int = 180) -> np.ndarray:
    """Points on every ring (elevation of the ring centre), all azimuths, ranges 3-60 m."""
    rows = []
    for ring in range(32):
        elev = np.radians(HDL32_LOWEST_DEG + HDL32_SPACING_DEG * ring)
        az = rng.uniform(-np.pi, np.pi, per_ring)
        r = rng.uniform(3.0, 60.0, per_ring)
        rows.append(
            np.stack([r * np.cos(elev) * np.cos(az), r * np.cos(elev) * np.sin(az), r * np.sin(elev)], 1)
        )
    xyz = np.concatenate(rows)
    return xyz


def object_points(rng: np.random.Generator, n: int = 60) -> np.ndarray:
    """``n`` points strictly inside each box of :data:`BOXES` (box frame, then rotated and moved)."""
    out = []
    for b in BOXES:
        local = rng.uniform(-0.45, 0.45, (n, 3)) * b[3:6]
        c, s = np.cos(b[6]), np.sin(b[6])
        xy = local[:, :2] @ np.array([[c, s], [-s, c]]) + b[:2]
        out.append(np.concatenate([xy, local[:, 2:3] + b[2]], 1))
    return np.concatenate(out)


def ground_points(rng: np.random.Generator, n: int = 400) -> np.ndarray:
    """``n`` points on the road (ego z = 0, i.e. 1.84 m under the LiDAR), 3-40 m away."""
    az, r = rng.uniform(-np.pi, np.pi, n), rng.uniform(3.0, 40.0, n)
    return np.stack([r * np.cos(az), r * np.sin(az), np.full(n, -SENSOR_HEIGHT)], 1)


def make_sample(seed: int = 0, token: str = "tok-0") -> SensorSample:
    rng = np.random.default_rng(seed)
    base = fake_sample(image_hw=(48, 128), n_lidar=10, n_radar=80, seed=seed, token=token)
    xyz = np.concatenate([ring_cloud(rng), object_points(rng), ground_points(rng)])
    pts = np.zeros((len(xyz), 5), np.float32)
    pts[:, :3] = xyz
    pts[:, 3] = rng.uniform(1, 60, len(xyz))
    pts[:, 4] = rng.integers(0, 3, len(xyz)) * 0.05
    # textured images: smooth gradients plus a few sharp edges (so blur and contrast are measurable)
    cams = base.cameras
    assert cams is not None
    h, w = cams.images.shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([60 + 100 * xx / w, 80 + 80 * yy / h, 120 + 40 * np.sin(xx / 5.0)], -1)
    img[(xx // 8) % 2 == 0] *= 0.6
    images = np.repeat(img[None], len(cams.channels), 0) + rng.normal(0, 4, cams.images.shape)
    cams = replace(cams, images=np.clip(images, 0, 255).astype(np.uint8))
    ego_from_ref = np.eye(4)
    ego_from_ref[2, 3] = SENSOR_HEIGHT
    gt = Boxes3D(
        boxes=BOXES.copy(),
        labels=np.array([CLASS_INDEX["car"], CLASS_INDEX["pedestrian"]]),
        attributes=np.array([-1, -1]),
        scores=np.ones(2, np.float32),
        num_lidar_pts=np.array([60, 60]),
        num_radar_pts=np.array([0, 0]),
        tokens=("a", "b"),
    )
    meta = replace(base.meta, ego_from_ref=ego_from_ref, scene_name="scene-test")
    return SensorSample(meta, PointCloud(pts), base.radar, cams, gt)
