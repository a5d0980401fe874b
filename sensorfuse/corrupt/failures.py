"""Sensor failures as in MetaBEV (Ge et al., "MetaBEV: Solving Sensor Failures for 3D Detection and Map
Segmentation", ICCV 2023; the LiDAR ones after Yu et al., "Benchmarking the Robustness of LiDAR-Camera Fusion
for 3D Object Detection", CVPRW 2022).

MetaBEV evaluates one setting per failure; the three severities here bracket it (level 2 is the papers'
setting where it is known, see ``docs/robustness.md``). A sensor that a failure removes is recorded in
``meta.missing`` with the reason INTENDED (counted, never a data fault); a camera that still delivers
(noisy, occluded) is not removed.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from sensorfuse.boxes import points_in_boxes
from sensorfuse.classes import LIDAR
from sensorfuse.corrupt.common import (
    HDL32_RINGS,
    edit_images,
    forward_yaw,
    level,
    mark_missing,
    present_cameras,
    thin_beams,
    with_lidar,
)
from sensorfuse.errors import DataError
from sensorfuse.geometry import wrap_angle
from sensorfuse.structures import SensorSample

#: total horizontal field of view kept, centred on the ego's forward axis (degrees); Yu et al. use 180 and 120
LIMITED_FOV_DEG = (180.0, 120.0, 90.0)
#: probability that an annotated object loses all its LiDAR points (Yu et al.: 0.5)
MISSING_OBJECT_PROB = (0.25, 0.5, 0.75)
#: LiDAR beams kept of 32 (MetaBEV reduces the 32 beams to 4 at the hardest)
BEAMS_KEPT = (16, 8, 4)
#: camera views dropped (marked absent) of 6
VIEWS_DROPPED = (1, 3, 5)
#: std of the Gaussian pixel noise as a share of 255 (ImageNet-C gaussian_noise levels 1, 3, 5)
VIEW_NOISE_STD = (0.08, 0.18, 0.38)
#: share of each image covered by opaque obstacles (mud, leaves) in front of the lens
OCCLUDED_AREA = (0.10, 0.25, 0.40)


def limited_fov(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """LiDAR limited field of view: keep only the points within ±FOV/2 of the ego's forward axis.

    Reference: Yu et al. 2022 / MetaBEV "Limited Field". Severity 1/2/3: 180°, 120°, 90° kept.
    """
    fov = np.radians(level(LIMITED_FOV_DEG, severity, "lidar_limited_fov"))
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points
    off = wrap_angle(np.arctan2(pts[:, 1], pts[:, 0]) - forward_yaw(sample))
    return with_lidar(sample, pts[np.abs(off) <= fov / 2 + 1e-9])


def missing_objects(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Missing objects: each annotated object loses all its LiDAR points with probability p.

    Reference: Yu et al. 2022 "object failure" / MetaBEV "Missing Objects". Severity 1/2/3: p = 0.25, 0.5,
    0.75. Needs the ground-truth boxes (the evaluation loads them for this corruption only).

    Raises:
        DataError: the sample has no ground-truth boxes.
    """
    p = level(MISSING_OBJECT_PROB, severity, "lidar_missing_objects")
    if sample.gt is None:
        raise DataError(sample.meta.sample_token, "lidar_missing_objects needs the ground-truth boxes", "gt")
    chosen = rng.random(len(sample.gt)) < p
    if sample.lidar is None or not chosen.any():
        return sample
    pts = sample.lidar.points
    inside = points_in_boxes(pts, sample.gt.boxes[chosen]).any(axis=0)
    return with_lidar(sample, pts[~inside])


def beam_reduction(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Beam reduction: keep every k-th of the 32 rings (rings binned by elevation, HDL-32E).

    Reference: MetaBEV "Beam Reduction". Severity 1/2/3: 16, 8, 4 beams kept.
    """
    return thin_beams(sample, HDL32_RINGS // level(BEAMS_KEPT, severity, "lidar_beam_reduction"))


def lidar_missing(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """The whole LiDAR missing (MetaBEV "LiDAR missing"): one level; recorded as intended."""
    level((1,), severity, "lidar_missing")
    return mark_missing(sample.without("lidar"), (LIDAR,), "lidar_missing (corruption)")


def camera_missing(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Every camera missing (MetaBEV "camera missing"): one level; recorded as intended."""
    level((1,), severity, "camera_missing")
    channels = () if sample.cameras is None else sample.cameras.channels
    return mark_missing(sample.without("camera"), channels, "camera_missing (corruption)")


def view_drop(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Camera view drop: k random present views are absent (``present`` False, recorded as intended).

    Reference: MetaBEV "View Drop". Severity 1/2/3: 1, 3, 5 of the 6 views.
    """
    k = level(VIEWS_DROPPED, severity, "camera_view_drop")
    cams, idx = sample.cameras, present_cameras(sample)
    if cams is None or len(idx) == 0:
        return sample
    drop = np.sort(rng.choice(idx, size=min(k, len(idx)), replace=False))
    present = cams.present.copy()
    present[drop] = False
    out = replace(sample, cameras=replace(cams, present=present))
    return mark_missing(out, [cams.channels[i] for i in drop], "camera_view_drop (corruption)")


def view_noise(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Camera view noise: additive Gaussian pixel noise on every view (the camera still delivers).

    Reference: MetaBEV "View Noise"; noise levels of ImageNet-C ``gaussian_noise`` (Hendrycks & Dietterich,
    ICLR 2019) 1, 3, 5: std 0.08, 0.18, 0.38 of the pixel range.
    """
    std = level(VIEW_NOISE_STD, severity, "camera_view_noise")

    def noisy(img: np.ndarray, _i: int) -> np.ndarray:
        return img.astype(np.float32) + rng.normal(0.0, std * 255.0, img.shape).astype(np.float32)

    return edit_images(sample, noisy)


def obstacle_occlusion(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Obstacle occlusion: opaque dark blobs (mud, leaves) in front of each lens cover a share of the image.

    Reference: MetaBEV "Obstacle Occlusion" (their masks are cut-outs of real obstacles; here ellipses of
    random size, orientation and dark colour, with softened edges). Severity 1/2/3: 10%, 25%, 40% covered.
    """
    area = level(OCCLUDED_AREA, severity, "camera_obstacle_occlusion")

    def occlude(img: np.ndarray, _i: int) -> np.ndarray:
        mask = occlusion_mask(img.shape[0], img.shape[1], area, rng)
        colour = rng.uniform(10, 70, 3).astype(np.float32)
        alpha = cv2.GaussianBlur(mask, (0, 0), max(1.0, img.shape[1] / 400))[..., None]
        return img.astype(np.float32) * (1 - alpha) + colour * alpha

    return edit_images(sample, occlude)


def occlusion_mask(h: int, w: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 mask of random filled ellipses covering at least ``area`` of the image (and < 1)."""
    mask = np.zeros((h, w), np.uint8)
    for _ in range(200):
        if mask.mean() >= area:
            break
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.uniform(0.05, 0.25) * w) + 1, int(rng.uniform(0.05, 0.25) * h) + 1)
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, (1,), -1)
    return mask.astype(np.float32)
