"""The one assembler: chosen messages of a :class:`~sensorfuse.sources.base.Drive` → a SensorSample.

Training and evaluation (keyframes, :func:`sensorfuse.data.sample.load_sample`) and replay (any sweep, chosen
causally) both call :func:`assemble`; only the choice of messages differs.

Reference frame = the reference sensor (``cfg.reference``, nuScenes: LIDAR_TOP) at the reference message's
time. Every other message is brought there through the global frame at its own timestamp::

    ref_from_sensor(t) = ref_from_global @ global_from_sensor(t)

Multi-sweep LiDAR and radar: each chosen message and up to ``n - 1`` earlier ones of its sensor
(:meth:`Drive.history`), each moved by its own pose (ego motion compensated), with a time lag
``t_ref - t_sweep`` (s) column. Radar velocities (``vx_comp, vy_comp``, in the radar frame) are **rotated**
by the same transform (the devkit's ``from_file_multisweep`` leaves them unrotated).

A sensor whose data cannot be loaded raises :class:`DataError` (``on_missing="raise"``) or, with
``on_missing="drop_sensor"``, is recorded in ``meta.missing[name]`` as ``"<reason>: <detail>"`` (counted by
:class:`~sensorfuse.data.accounting.MissingTally`) and left out: a camera gets ``present=False``; a modality
whose sensors are all missing is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
from numba import njit

from sensorfuse.boxes import transform_boxes
from sensorfuse.data.accounting import missing_entry, missing_from_error
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.images import load_camera
from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.base import Drive
from sensorfuse.structures import Boxes3D, CameraSet, PointCloud, RadarPoints, SampleMeta, SensorSample
from sensorfuse.sync.core import Message

T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    """What one sample is made of.

    Attributes:
        ref: the reference sensor's message: its frame and time are the sample's reference.
        chosen: sensor name → its chosen message (keyframe, nearest, or causal pick).
        arrived: sensor name → timestamps (µs) of the messages that had arrived (replay with faults); a
            sweep of the history that had not arrived is left out. None = everything arrived.
        sample_token: the annotated sample this is (nuScenes keyframe), or "".
        scene_name: for the sample's metadata.
        ground_truth: attach the recording's boxes at ``ref`` (if it has any).
    """

    ref: Message
    chosen: Mapping[str, Message]
    arrived: Mapping[str, Collection[int]] | None = None
    sample_token: str = ""
    scene_name: str = ""
    ground_truth: bool = False


class Guard:
    """Runs one sensor's loader; a DataError raises or marks the sensor missing, per ``cfg.on_missing``."""

    def __init__(self, cfg: SampleConfig, missing: dict[str, str]) -> None:
        self.cfg, self.missing = cfg, missing

    def __call__(self, name: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except DataError as e:
            if self.cfg.on_missing == "raise":
                raise
            self.missing[name] = missing_from_error(e)
            return None


@njit(cache=True, nogil=True)
def _merge_sweep_kernel(
    pts: np.ndarray,
    rot: np.ndarray,
    trans: np.ndarray,
    lag: float,
    min_dist: float,
    out: np.ndarray,
    start: int,
) -> int:  # pragma: no cover - compiled
    """Append one sweep to ``out`` from row ``start``: drop points within the ``min_dist`` square around
    the sensor, map x, y, z by ``rot``/``trans``, copy intensity, set the lag. Returns the next free row."""
    j = start
    for i in range(pts.shape[0]):
        x, y, z = pts[i, 0], pts[i, 1], pts[i, 2]
        if abs(x) < min_dist and abs(y) < min_dist:
            continue
        for k in range(3):
            out[j, k] = rot[k, 0] * x + rot[k, 1] * y + rot[k, 2] * z + trans[k]
        out[j, 3] = pts[i, 3]
        out[j, 4] = lag
        j += 1
    return j


def _sweeps(drive: Drive, msg: Message, n: int, sel: Selection) -> list[Message]:
    """``msg`` and its history, without sweeps that had not arrived (replay faults)."""
    history = drive.history(msg, n)
    if sel.arrived is None:
        return history
    arrived = sel.arrived.get(msg.channel, ())
    return [m for m in history if m.timestamp in arrived]


def lidar_points(
    drive: Drive, msg: Message, ref_from_global: Transform, t_ref: int, cfg: SampleConfig, sel: Selection
) -> np.ndarray:
    """One LiDAR's merged sweeps (N, 5) float32: x, y, z (reference frame), intensity, time lag (s, >= 0).

    Points within ``cfg.lidar_min_distance`` (a square in the sweep's sensor frame, like the devkit's
    ``remove_close``) are dropped; an empty sweep is a DataError.
    """
    sweeps = []
    for m in _sweeps(drive, msg, cfg.lidar_sweeps, sel):
        pts = np.ascontiguousarray(drive.read_lidar(m), dtype=np.float32)
        if len(pts) == 0:
            raise DataError(
                m.filename or m.token, "empty LiDAR point cloud (0 points)", "points", reason="empty file"
            )
        sweeps.append((m, pts))
    out = np.empty((sum(len(p) for _, p in sweeps), 5), np.float32)
    n = 0
    for m, pts in sweeps:
        t = ref_from_global @ drive.global_from_sensor(m)
        lag = (t_ref - m.timestamp) * 1e-6
        rot, trans = t.rotation.astype(np.float32), t.translation.astype(np.float32)
        n = _merge_sweep_kernel(pts, rot, trans, float(lag), float(cfg.lidar_min_distance), out, n)
    return out[:n]


def radar_points(
    drive: Drive, msg: Message, ref_from_global: Transform, t_ref: int, cfg: SampleConfig, sel: Selection
) -> np.ndarray:
    """One radar's sweeps (N, 7) float32: x, y, z, vx_comp, vy_comp (reference frame), rcs, time lag."""
    parts = [np.zeros((0, 7), np.float32)]
    for m in _sweeps(drive, msg, cfg.radar_sweeps, sel):
        raw = drive.read_radar(m)
        if len(raw) == 0:
            continue
        t = ref_from_global @ drive.global_from_sensor(m)
        xyz = t.apply(raw[:, :3].astype(np.float64))
        vel = np.zeros((len(raw), 3))
        vel[:, :2] = raw[:, 3:5]
        v_ref = t.rotate(vel)
        lag = np.full((len(raw), 1), (t_ref - m.timestamp) * 1e-6)
        parts.append(np.concatenate([xyz, v_ref[:, :2], raw[:, 5:6], lag], axis=1).astype(np.float32))
    return np.concatenate(parts, axis=0)


def cameras(
    drive: Drive, sel: Selection, global_from_ref: Transform, cfg: SampleConfig, guard: Guard
) -> CameraSet | None:
    """The cameras of ``cfg.cameras`` chosen in ``sel``, decoded at ``cfg.image_size`` with updated K.

    ``cam_from_ref`` is taken at the camera's own timestamp: ``cam_from_global(t_cam) @ global_from_ref``. A
    camera not chosen or failing is ``present=False``; None when no camera is present.
    """
    n = len(cfg.cameras)
    h, w = cfg.image_size
    images = np.zeros((n, h, w, 3), np.uint8)
    intr = np.tile(np.eye(3, dtype=np.float32), (n, 1, 1))
    cfr = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    present = np.zeros(n, bool)

    def one(i: int, msg: Message) -> bool:
        images[i], intr[i] = load_camera(drive.read_camera(msg), cfg.image_size, cfg.image_scale)
        cfr[i] = (drive.global_from_sensor(msg).inverse() @ global_from_ref).matrix
        return True

    for i, name in enumerate(cfg.cameras):
        msg = sel.chosen.get(name)
        if msg is not None:
            present[i] = bool(guard(name, lambda i=i, msg=msg: one(i, msg)))  # type: ignore[misc]
    if not present.any():
        return None
    return CameraSet(
        channels=tuple(cfg.cameras), images=images, intrinsics=intr, cam_from_ref=cfr, present=present
    )


def ground_truth(gt: Boxes3D, ref_from_global: Transform, drop_empty: bool) -> Boxes3D:
    """Global-frame boxes (float64, :meth:`Drive.ground_truth`) in the reference frame (float32).

    With ``drop_empty`` boxes with ``num_lidar_pts + num_radar_pts == 0`` are dropped (as the detection eval
    does); boxes whose counts the recording does not know (-1) are kept. An unknown (NaN) velocity becomes 0,
    the training target it has always been (the evaluation reads :meth:`Drive.ground_truth` itself).
    """
    if drop_empty:
        known = (gt.num_lidar_pts >= 0) & (gt.num_radar_pts >= 0)
        gt = gt.select(~known | (gt.num_lidar_pts + gt.num_radar_pts > 0))
    if len(gt) == 0:
        return Boxes3D.empty()
    g = np.asarray(gt.boxes, np.float64).copy()
    g[:, 7:9] = np.nan_to_num(g[:, 7:9])
    boxes = transform_boxes(g, ref_from_global).astype(np.float32)
    return Boxes3D(
        boxes=boxes,
        labels=gt.labels,
        attributes=gt.attributes,
        scores=np.ones(len(gt), np.float32),
        num_lidar_pts=gt.num_lidar_pts,
        num_radar_pts=gt.num_radar_pts,
        tokens=gt.tokens,
    )


def assemble(
    drive: Drive, sel: Selection, cfg: SampleConfig, missing: Mapping[str, str] | None = None
) -> SensorSample:
    """The :class:`SensorSample` of the messages in ``sel`` (see the module docstring).

    Args:
        drive: the recording.
        sel: reference message, chosen messages per sensor, arrivals, sample identity.
        cfg: sweeps, image size, sensors per modality, ``on_missing``.
        missing: sensors already known to be missing (by the sync), ``name → "<reason>: <detail>"``.

    Sensors of ``cfg`` that the recording does not have are recorded missing (``absent``).
    """
    t_ref = int(sel.ref.timestamp)
    global_from_ref = drive.global_from_sensor(sel.ref)
    ref_from_global = global_from_ref.inverse()
    miss = dict(missing or {})
    for name in cfg.channels_for(("lidar", "camera", "radar")):
        if name not in drive.sensors and name not in miss:
            miss[name] = missing_entry("absent", f"{drive.name} has no sensor {name!r}")
    guard = Guard(cfg, miss)

    def merged(names: tuple[str, ...], load: Callable[..., np.ndarray]) -> np.ndarray | None:
        parts = []
        for name in names:
            msg = sel.chosen.get(name)
            part = (
                None
                if msg is None
                else guard(name, partial(load, drive, msg, ref_from_global, t_ref, cfg, sel))
            )
            if part is not None:
                parts.append(part)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    lidar = merged(cfg.lidars, lidar_points)
    radar = merged(cfg.radars, radar_points)
    cams = cameras(drive, sel, global_from_ref, cfg, guard)
    gt = None
    if sel.ground_truth:
        boxes = drive.ground_truth(sel.ref)
        gt = None if boxes is None else ground_truth(boxes, ref_from_global, cfg.drop_empty_boxes)
    meta = SampleMeta(
        sample_token=sel.sample_token,
        scene_name=sel.scene_name,
        timestamp=t_ref,
        global_from_ref=global_from_ref.matrix.copy(),
        ego_from_ref=drive.ego_from_sensor(sel.ref).matrix.copy(),
        missing=miss,
    )
    return SensorSample(
        meta=meta,
        lidar=None if lidar is None else PointCloud(lidar),
        radar=None if radar is None else RadarPoints(radar),
        cameras=cams,
        gt=gt,
    )
