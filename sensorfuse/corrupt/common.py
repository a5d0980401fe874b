"""Helpers shared by the corruption families: severity lookup, copy-on-write edits of a sample, LiDAR ring
binning, the ego's forward direction and ground height, and per-camera image edits.

Every helper returns a new :class:`~sensorfuse.structures.SensorSample` (``dataclasses.replace``) with new
arrays for what changed; the input sample and its arrays are never written to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np

from sensorfuse.data.accounting import INTENDED, missing_entry
from sensorfuse.errors import ConfigError
from sensorfuse.structures import PointCloud, RadarPoints, SensorSample

T = TypeVar("T")

#: Elevation of the lowest ring and ring spacing of a 32-beam HDL-32E (degrees): used to bin points into
#: rings when the merged cloud carries no ring index.
HDL32_LOWEST_DEG = -30.67
HDL32_SPACING_DEG = 1.333
HDL32_RINGS = 32

#: Width (px) of a nuScenes camera image: the pixel sizes of the image corruptions (blur radius, ...) are
#: stated for it and scaled to the sample's (resized) image width.
NUSCENES_IMAGE_WIDTH = 1600


def level(values: Sequence[T], severity: int, name: str) -> T:
    """The parameter of ``severity`` (1-based) from a per-severity table.

    Raises:
        ConfigError: ``severity`` outside ``1..len(values)``.
    """
    if (
        isinstance(severity, bool)
        or not isinstance(severity, int | np.integer)
        or not 1 <= severity <= len(values)
    ):
        raise ConfigError(
            f"corruption {name}: severity {severity!r}, expected an integer in 1..{len(values)}"
        )
    return values[int(severity) - 1]


def mark_missing(sample: SensorSample, channels: Iterable[str], detail: str) -> SensorSample:
    """A copy whose ``meta.missing`` also lists ``channels`` as removed on purpose (reason INTENDED)."""
    added = {c: missing_entry(INTENDED, detail) for c in channels}
    if not added:
        return sample
    return replace(sample, meta=replace(sample.meta, missing={**sample.meta.missing, **added}))


def with_lidar(sample: SensorSample, points: np.ndarray) -> SensorSample:
    """A copy with the LiDAR points replaced (float32, LIDAR_COLUMNS)."""
    return replace(sample, lidar=PointCloud(np.ascontiguousarray(points, dtype=np.float32)))


def with_radar(sample: SensorSample, points: np.ndarray) -> SensorSample:
    """A copy with the radar points replaced (float32, RADAR_COLUMNS)."""
    return replace(sample, radar=RadarPoints(np.ascontiguousarray(points, dtype=np.float32)))


def ring_of(points: np.ndarray) -> np.ndarray:
    """Ring index (N,) of LiDAR points from their elevation angle, binned like an HDL-32E (0 = lowest)."""
    elev = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    return np.round((elev - HDL32_LOWEST_DEG) / HDL32_SPACING_DEG).astype(np.int64)


def thin_beams(sample: SensorSample, keep_every: int) -> SensorSample:
    """Keep the LiDAR points of every ``keep_every``-th ring (32 → 32 / keep_every beams)."""
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points
    return with_lidar(sample, pts[ring_of(pts) % keep_every == 0])


def forward_yaw(sample: SensorSample) -> float:
    """Yaw (rad, about the reference frame's z) of the ego's forward axis (ego +x) in the reference frame."""
    ref_from_ego = np.linalg.inv(np.asarray(sample.meta.ego_from_ref, np.float64))
    fwd = ref_from_ego[:3, :3] @ np.array([1.0, 0.0, 0.0])
    return float(np.arctan2(fwd[1], fwd[0]))


def height_above_ground(sample: SensorSample, points: np.ndarray) -> np.ndarray:
    """Height (m) of reference-frame points above the ego's ground plane (ego z = 0)."""
    ego_from_ref = np.asarray(sample.meta.ego_from_ref, np.float64)
    xyz = points[:, :3].astype(np.float64)
    return xyz @ ego_from_ref[2, :3] + ego_from_ref[2, 3]


def pixels(value: float, width: int) -> float:
    """A pixel size stated for a 1600 px wide nuScenes image, scaled to an image ``width`` px wide."""
    return value * width / NUSCENES_IMAGE_WIDTH


#: (image (H, W, 3) uint8 RGB, camera index) → corrupted image (H, W, 3) uint8
ImageEdit = Callable[[np.ndarray, int], np.ndarray]


def edit_images(sample: SensorSample, edit: ImageEdit, which: Iterable[int] | None = None) -> SensorSample:
    """A copy whose present cameras (or those of ``which`` that are present) have ``edit`` applied.

    Cameras are edited in index order, so an ``edit`` drawing from one generator is deterministic.
    """
    cams = sample.cameras
    if cams is None:
        return sample
    chosen = range(len(cams.channels)) if which is None else sorted(set(which))
    images = cams.images.copy()
    for i in chosen:
        if cams.present[i]:
            out = edit(cams.images[i], i)
            images[i] = np.clip(np.rint(out), 0, 255).astype(np.uint8) if out.dtype != np.uint8 else out
    return replace(sample, cameras=replace(cams, images=images))


def present_cameras(sample: SensorSample) -> np.ndarray:
    """Indices of the present cameras (empty when the sample has none)."""
    return np.zeros(0, np.int64) if sample.cameras is None else np.flatnonzero(sample.cameras.present)
