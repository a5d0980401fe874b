"""Global augmentation that keeps every modality consistent.

One affine map ``aug_from_ref`` (4, 4) = flip ∘ uniform scale ∘ rotation about +z is applied to:

* LiDAR and radar positions (radar velocities get its linear part: rotated, flipped and scaled),
* GT boxes (centres, headings, sizes x scale, velocities) via :func:`transform_boxes_linear`,
* camera geometry: ``cam_from_ref ← cam_from_ref @ ref_from_aug`` (so a point in the augmented frame
  still projects onto the same pixel; the matrix is then affine, not rigid),
* ``meta.global_from_ref ← global_from_ref @ ref_from_aug`` and ``meta.ego_from_ref`` likewise, so
  ``transform_boxes_linear(predictions, meta.global_from_ref)`` maps predictions back to the global frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sensorfuse.errors import ConfigError
from sensorfuse.geometry import wrap_angle
from sensorfuse.structures import CameraSet, PointCloud, RadarPoints, SampleMeta, SensorSample


def augmentation_matrix(yaw: float, scale: float, flip_x: bool, flip_y: bool) -> np.ndarray:
    """(4, 4) ``aug_from_ref``: rotate by ``yaw`` about +z, scale, then mirror (``flip_x``: y → -y, ``flip_y``: x → -x)."""
    c, s = np.cos(yaw), np.sin(yaw)
    m = np.eye(4)
    m[:3, :3] = np.diag([-1.0 if flip_y else 1.0, -1.0 if flip_x else 1.0, 1.0]) @ (
        scale * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    )
    return m


def transform_boxes_linear(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Boxes (N, 7 or 9) through an affine map (4, 4) with a uniform scale (rigid, scaled, mirrored).

    Centres are mapped; the heading vector goes through the linear part and its yaw is re-read in the
    target xy plane; sizes are multiplied by ``|det|^(1/3)``; velocities go through the linear part.
    """
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, boxes.shape[-1])
    m = np.asarray(matrix, dtype=np.float64)
    lin = m[:3, :3]
    b[:, :3] = b[:, :3] @ lin.T + m[:3, 3]
    head = np.stack([np.cos(b[:, 6]), np.sin(b[:, 6]), np.zeros(len(b))], axis=1) @ lin.T
    b[:, 6] = wrap_angle(np.arctan2(head[:, 1], head[:, 0]))
    b[:, 3:6] *= abs(np.linalg.det(lin)) ** (1.0 / 3.0)
    if b.shape[1] >= 9:
        v = np.concatenate([b[:, 7:9], np.zeros((len(b), 1))], axis=1) @ lin.T
        b[:, 7:9] = v[:, :2]
    return b


def apply_augmentation(sample: SensorSample, aug_from_ref: np.ndarray) -> SensorSample:
    """A copy of ``sample`` expressed in the augmented frame (see the module docstring)."""
    a = np.asarray(aug_from_ref, dtype=np.float64)
    lin, t = a[:3, :3], a[:3, 3]
    ref_from_aug = np.linalg.inv(a)
    lidar = radar = None
    if sample.lidar is not None:
        p = sample.lidar.points.copy()
        p[:, :3] = (p[:, :3].astype(np.float64) @ lin.T + t).astype(np.float32)
        lidar = PointCloud(p)
    if sample.radar is not None:
        r = sample.radar.points.copy()
        r[:, :3] = (r[:, :3].astype(np.float64) @ lin.T + t).astype(np.float32)
        v = np.concatenate([r[:, 3:5], np.zeros((len(r), 1), np.float32)], axis=1).astype(np.float64) @ lin.T
        r[:, 3:5] = v[:, :2].astype(np.float32)
        radar = RadarPoints(r)
    cams = sample.cameras
    if cams is not None:
        cams = CameraSet(
            channels=cams.channels,
            images=cams.images,
            intrinsics=cams.intrinsics,
            cam_from_ref=(cams.cam_from_ref.astype(np.float64) @ ref_from_aug).astype(np.float32),
            present=cams.present,
        )
    gt = sample.gt
    if gt is not None and len(gt):
        gt = replace(gt, boxes=transform_boxes_linear(gt.boxes, a).astype(np.float32))
    meta: SampleMeta = replace(
        sample.meta,
        global_from_ref=sample.meta.global_from_ref @ ref_from_aug,
        ego_from_ref=sample.meta.ego_from_ref @ ref_from_aug,
    )
    return SensorSample(meta=meta, lidar=lidar, radar=radar, cameras=cams, gt=gt)


@dataclass(frozen=True)
class GlobalAugment:
    """Random global rotation / scale / flips (``augment(sample, rng)`` for :class:`FusionDataset`).

    Attributes:
        rot_range: yaw range, radians.
        scale_range: uniform scale range.
        flip_x_prob: probability of mirroring across the x axis (y → -y).
        flip_y_prob: probability of mirroring across the y axis (x → -x).
    """

    rot_range: tuple[float, float] = (-np.pi / 4, np.pi / 4)
    scale_range: tuple[float, float] = (0.95, 1.05)
    flip_x_prob: float = 0.5
    flip_y_prob: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"GlobalAugment.scale_range: expected 0 < lo <= hi, got {self.scale_range}")
        if not (0 <= self.flip_x_prob <= 1 and 0 <= self.flip_y_prob <= 1):
            raise ConfigError("GlobalAugment: flip probabilities must be in [0, 1]")

    def sample_matrix(self, rng: np.random.Generator) -> np.ndarray:
        return augmentation_matrix(
            float(rng.uniform(*self.rot_range)),
            float(rng.uniform(*self.scale_range)),
            bool(rng.random() < self.flip_x_prob),
            bool(rng.random() < self.flip_y_prob),
        )

    def __call__(self, sample: SensorSample, rng: np.random.Generator) -> SensorSample:
        return apply_augmentation(sample, self.sample_matrix(rng))
