"""The one maker of fake sensor samples: random inputs of nuScenes-like size, for timing and shape checks.

Used by the model summary, the latency benchmark and the model runner's warm-up (not for accuracy: the
points and images are noise). :func:`synthetic_sample` sizes one from a sample config
(:class:`~sensorfuse.data.config.SampleConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from sensorfuse.classes import CAMERAS
from sensorfuse.structures import (
    LIDAR_COLUMNS,
    RADAR_COLUMNS,
    CameraSet,
    PointCloud,
    RadarPoints,
    SampleMeta,
    SensorSample,
)


def fake_sample(
    cameras: Sequence[str] = CAMERAS,
    image_hw: tuple[int, int] = (128, 352),
    n_lidar: int = 34_000,
    n_radar: int = 300,
    extent: float = 50.0,
    seed: int = 0,
    token: str = "synthetic",
) -> SensorSample:
    """A random sample in the reference frame.

    LiDAR (``n_lidar`` points) uniform over ±``extent`` m in x/y and ±2 m in z, intensity 0–255, time lags of
    ten sweeps; radar (``n_radar`` points) over ±1.2 ``extent`` m with random velocities and RCS; one camera
    per name at the origin, looking out at evenly spaced yaws, with random ``image_hw`` (H, W) images.
    """
    rng = np.random.default_rng(seed)
    lidar = np.zeros((n_lidar, len(LIDAR_COLUMNS)), np.float32)
    lidar[:, :2] = rng.uniform(-extent, extent, (n_lidar, 2))
    lidar[:, 2] = rng.uniform(-2, 2, n_lidar)
    lidar[:, 3] = rng.uniform(0, 255, n_lidar)
    lidar[:, 4] = rng.integers(0, 10, n_lidar) * 0.05
    radar = np.zeros((n_radar, len(RADAR_COLUMNS)), np.float32)
    radar[:, :2] = rng.uniform(-1.2 * extent, 1.2 * extent, (n_radar, 2))
    radar[:, 3:5] = rng.normal(0, 3, (n_radar, 2))
    radar[:, 5] = rng.uniform(-5, 30, n_radar)
    h, w = image_hw
    n = len(cameras)
    k = np.array([[w * 0.8, 0, w / 2], [0, w * 0.8, h / 2], [0, 0, 1]], np.float32)
    yaws = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cam_from_ref = np.stack([_cam_looking(y) for y in yaws]).astype(np.float32)
    cams = CameraSet(
        tuple(cameras), rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8), np.repeat(k[None], n, 0),
        cam_from_ref, np.ones(n, bool),
    )  # fmt: skip
    meta = SampleMeta(token, "synthetic", 0, np.eye(4), np.eye(4))
    return SensorSample(meta, PointCloud(lidar), RadarPoints(radar), cams)


class SampleShape(Protocol):
    """What :func:`synthetic_sample` reads of a :class:`~sensorfuse.data.config.SampleConfig`."""

    @property
    def cameras(self) -> tuple[str, ...]: ...
    @property
    def radars(self) -> tuple[str, ...]: ...
    @property
    def image_size(self) -> tuple[int, int]: ...
    @property
    def lidar_sweeps(self) -> int: ...
    @property
    def radar_sweeps(self) -> int: ...


def synthetic_sample(
    cfg: SampleShape, n_lidar: int | None = None, n_radar: int | None = None, seed: int = 0
) -> SensorSample:
    """A :func:`fake_sample` of nuScenes-like size for ``cfg``: its cameras and image size.

    Default sizes follow the config: a real LIDAR_TOP sweep has ~34k points (``cfg.lidar_sweeps`` merged);
    each radar gives ~60 unfiltered points per sweep (``len(cfg.radars) * cfg.radar_sweeps`` sweeps).
    """
    n_lidar = 34_000 * cfg.lidar_sweeps if n_lidar is None else n_lidar
    n_radar = 60 * len(cfg.radars) * cfg.radar_sweeps if n_radar is None else n_radar
    return fake_sample(cfg.cameras, cfg.image_size, n_lidar, n_radar, seed=seed)


def _cam_looking(yaw: float) -> np.ndarray:
    """cam_from_ref of a camera at the origin looking along ``yaw`` in the xy plane (OpenCV camera axes)."""
    fwd = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    m = np.eye(4)
    m[:3, :3] = np.stack([right, down, fwd])
    return m
