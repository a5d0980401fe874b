"""Assemble one keyframe into a :class:`~sensorfuse.structures.SensorSample` in the reference frame.

Reference frame = LIDAR_TOP at the keyframe (``ref``). Every sensor is brought there through the
global frame at its own timestamp. A bad or missing sensor raises :class:`DataError` (``on_missing=
"raise"``) or, with ``on_missing="drop_sensor"``, is recorded in ``meta.missing[channel]`` as
``"<reason>: <detail>"`` (counted by :class:`~sensorfuse.data.accounting.MissingTally`) and left out: a camera gets ``present=False``; a modality whose sensors are all missing is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np

from sensorfuse.classes import LIDAR
from sensorfuse.data.accounting import missing_from_error
from sensorfuse.data.chain import ego_from_sensor, existing_file, global_from_ego, global_from_sensor
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.gt import load_gt
from sensorfuse.data.images import load_camera_image
from sensorfuse.data.index import NuScenesIndex
from sensorfuse.data.points import load_lidar, load_radar_channel
from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.structures import CameraSet, PointCloud, RadarPoints, SampleMeta, SensorSample
from sensorfuse.sync.core import SyncPolicy

T = TypeVar("T")


def _guard(missing: dict[str, str], channel: str, cfg: SampleConfig, fn: Callable[[], T]) -> T | None:
    """Run one sensor's loader; on DataError raise or record it, per ``cfg.on_missing``."""
    try:
        return fn()
    except DataError as e:
        if cfg.on_missing == "raise":
            raise
        missing[channel] = missing_from_error(e)
        return None


def _keyframe(index: NuScenesIndex, sample_token: str, channel: str, t_ref: int, cfg: SampleConfig) -> str:
    """The channel's keyframe sample_data token, checked to exist and to be within tolerance."""
    tok = index.sample(sample_token)["data"].get(channel)
    if tok is None:
        raise DataError(sample_token, f"sample has no {channel} keyframe", f"data.{channel}")
    rec = index.sample_data[tok]
    tol = SyncPolicy(tolerance_us=dict(cfg.tolerance_us)).tolerance_for(channel, rec["modality"])
    offset = rec["timestamp"] - t_ref
    if abs(offset) > tol:
        raise DataError(
            tok, f"stale {channel}: {offset} µs from the LIDAR_TOP keyframe (tolerance {tol} µs)", "timestamp"
        )
    return str(tok)


def load_cameras(
    index: NuScenesIndex,
    chosen: Mapping[str, str],
    global_from_ref: Transform,
    cfg: SampleConfig,
    missing: dict[str, str],
    guard: Callable[[str, Callable[[], bool]], bool | None] | None = None,
) -> CameraSet | None:
    """The cameras of ``cfg.cameras`` whose sample_data token is in ``chosen`` (channel → token).

    Each image is decoded at ``cfg.image_size`` with its intrinsics updated, and ``cam_from_ref`` is taken at
    the camera's own timestamp: ``cam_from_global(t_cam) @ global_from_ref``. Keyframe loading and replay
    (any sweep, chosen causally) both use this. ``guard(channel, fn)`` runs one camera's loader and decides
    what a :class:`DataError` does (default: :func:`_guard` with ``cfg.on_missing``); a camera absent from
    ``chosen`` or failing is ``present=False``. Returns None when no camera is present.
    """
    n = len(cfg.cameras)
    h, w = cfg.image_size
    images = np.zeros((n, h, w, 3), np.uint8)
    intr = np.tile(np.eye(3, dtype=np.float32), (n, 1, 1))
    cfr = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    present = np.zeros(n, bool)
    run = guard or (lambda channel, fn: _guard(missing, channel, cfg, fn))

    def one(i: int, channel: str) -> bool:
        tok = chosen[channel]
        rec = index.sample_data[tok]
        k = index.calib[rec["calib"]]["intrinsic"]
        if k is None:
            raise DataError(
                rec["calib"], f"{channel} calibration has no camera_intrinsic", "camera_intrinsic"
            )
        img, k_out = load_camera_image(
            existing_file(index, tok),
            np.array(k),
            (rec["width"], rec["height"]),
            cfg.image_size,
            cfg.image_scale,
        )
        images[i], intr[i] = img, k_out
        cfr[i] = (global_from_sensor(index, tok).inverse() @ global_from_ref).matrix
        return True

    for i, channel in enumerate(cfg.cameras):
        if channel in chosen:
            present[i] = bool(run(channel, lambda i=i, c=channel: one(i, c)))  # type: ignore[misc]
    if not present.any():
        return None
    return CameraSet(
        channels=tuple(cfg.cameras), images=images, intrinsics=intr, cam_from_ref=cfr, present=present
    )


def _keyframe_cameras(
    index: NuScenesIndex,
    token: str,
    global_from_ref: Transform,
    t_ref: int,
    cfg: SampleConfig,
    missing: dict[str, str],
) -> CameraSet | None:
    """The keyframe's cameras; a camera without a keyframe within tolerance is missing (or raises)."""
    chosen = {}
    for channel in cfg.cameras:
        tok = _guard(missing, channel, cfg, lambda c=channel: _keyframe(index, token, c, t_ref, cfg))  # type: ignore[misc]
        if tok is not None:
            chosen[channel] = tok
    return load_cameras(index, chosen, global_from_ref, cfg, missing)


def _radar(
    index: NuScenesIndex,
    token: str,
    ref_from_global: Transform,
    t_ref: int,
    cfg: SampleConfig,
    missing: dict[str, str],
) -> RadarPoints | None:
    parts = []
    for channel in cfg.radars:

        def one(c: str = channel) -> np.ndarray:
            return load_radar_channel(
                index, _keyframe(index, token, c, t_ref, cfg), ref_from_global, t_ref, cfg
            )

        pts = _guard(missing, channel, cfg, one)
        if pts is not None:
            parts.append(pts)
    if not parts:
        return None
    return RadarPoints(np.concatenate(parts, axis=0))


def load_sample(index: NuScenesIndex, sample_token: str, cfg: SampleConfig | None = None) -> SensorSample:
    """LiDAR (``cfg.lidar_sweeps``), radar (``cfg.radars`` x ``cfg.radar_sweeps``), cameras and GT of a keyframe.

    Raises:
        DataError: unknown token, no LIDAR_TOP keyframe (the reference frame), or (with
            ``on_missing="raise"``) any bad or missing sensor data, naming the file/token and the problem.
    """
    cfg = cfg or SampleConfig()
    sample = index.sample(sample_token)
    lidar_tok = sample["data"].get(LIDAR)
    if lidar_tok is None or lidar_tok not in index.sample_data:
        raise DataError(
            sample_token,
            "sample has no LIDAR_TOP keyframe: the reference frame is undefined",
            "data.LIDAR_TOP",
        )
    t_ref = int(index.sample_data[lidar_tok]["timestamp"])
    ego_from_ref = ego_from_sensor(index, lidar_tok)
    global_from_ref = global_from_ego(index, lidar_tok) @ ego_from_ref
    ref_from_global = global_from_ref.inverse()
    missing: dict[str, str] = {}
    lidar = _guard(missing, LIDAR, cfg, lambda: load_lidar(index, lidar_tok, ref_from_global, cfg))
    radar = _radar(index, sample_token, ref_from_global, t_ref, cfg, missing)
    cameras = _keyframe_cameras(index, sample_token, global_from_ref, t_ref, cfg, missing)
    gt = load_gt(index, sample_token, ref_from_global, cfg.drop_empty_boxes) if cfg.load_gt else None
    meta = SampleMeta(
        sample_token=sample_token,
        scene_name=sample["scene"],
        timestamp=t_ref,
        global_from_ref=global_from_ref.matrix.copy(),
        ego_from_ref=ego_from_ref.matrix.copy(),
        missing=missing,
    )
    return SensorSample(
        meta=meta, lidar=None if lidar is None else PointCloud(lidar), radar=radar, cameras=cameras, gt=gt
    )
