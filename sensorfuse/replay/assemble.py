"""Build a :class:`~sensorfuse.structures.SensorSample` from exactly the messages a causal frame chose.

The data layer's :func:`sensorfuse.data.load_sample` assembles *keyframes* (nearest sensors to a sample).
Replay needs the same merge for arbitrary sample_data tokens (any sweep, chosen causally), so this module
calls the data layer's per-sensor loaders (:mod:`sensorfuse.data.points`, :mod:`sensorfuse.data.images`,
:mod:`sensorfuse.data.gt`, :mod:`sensorfuse.data.chain`) with the chosen tokens.

Reference frame: LIDAR_TOP at the frame's clock sweep (its calibration and ego pose; the pose is the
localisation's, so it is used even when the LiDAR data itself was dropped). Multi-sweep history comes from the
recording's ``prev`` chain; sweeps that had not arrived by the frame time (dropped or delayed) are removed
again by their time lag, so fault injection also applies to the history.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

import numpy as np

from sensorfuse.classes import LIDAR
from sensorfuse.data.accounting import missing_from_error
from sensorfuse.data.chain import ego_from_sensor, global_from_sensor
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.gt import load_gt
from sensorfuse.data.index import NuScenesIndex
from sensorfuse.data.points import load_lidar, load_radar_channel
from sensorfuse.data.sample import load_cameras
from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.replay.frames import Frame
from sensorfuse.structures import PointCloud, RadarPoints, SampleMeta, SensorSample

T = TypeVar("T")
_LAG_MATCH_US = 200  # a point's sweep is identified by its time lag (float32 s) to within this


def keep_arrived(points: np.ndarray, t_ref: int, arrived_us: Collection[int]) -> np.ndarray:
    """Rows of ``points`` (time lag in the last column, s) whose sweep timestamp is in ``arrived_us``."""
    if len(points) == 0:
        return points
    sweep_t = t_ref - np.round(points[:, -1].astype(np.float64) * 1e6).astype(np.int64)
    arrived = np.sort(np.fromiter(arrived_us, np.int64))
    if arrived.size == 0:
        return points[:0]
    j = np.searchsorted(arrived, sweep_t)
    lo = arrived[np.clip(j - 1, 0, arrived.size - 1)]
    hi = arrived[np.clip(j, 0, arrived.size - 1)]
    near = np.minimum(np.abs(lo - sweep_t), np.abs(hi - sweep_t))
    return points[near <= _LAG_MATCH_US]


def _guarded(missing: dict[str, str], channel: str, fn: Callable[[], T]) -> T | None:
    """Run one sensor's loader; a DataError (broken file, ...) marks the sensor missing instead of stopping."""
    try:
        return fn()
    except DataError as e:
        missing[channel] = missing_from_error(e)
        return None


def _lidar(
    index: NuScenesIndex,
    frame: Frame,
    ref_from_global: Transform,
    arrived: Collection[int],
    cfg: SampleConfig,
) -> np.ndarray:
    msg = frame.sync.chosen[LIDAR]
    pts = load_lidar(index, msg.token, ref_from_global, cfg)
    pts = keep_arrived(pts, int(msg.timestamp), arrived)  # lags are relative to the chosen sweep here
    pts[:, 4] += (frame.ref_time - int(msg.timestamp)) * 1e-6  # ... and relative to the frame time now
    return pts


def assemble_frame(
    index: NuScenesIndex,
    frame: Frame,
    arrived: Mapping[str, Collection[int]],
    cfg: SampleConfig,
    scene_name: str,
) -> SensorSample:
    """The :class:`SensorSample` of a causally assembled frame.

    Args:
        index: the dataset index.
        frame: trigger + sync result (chosen messages per channel, missing sensors).
        arrived: channel → timestamps (µs) of the messages that had arrived by the frame time.
        cfg: sweeps, image size, channels; GT is attached for keyframes when ``cfg.load_gt``.
        scene_name: for the sample's metadata.

    A sensor whose file is broken is reported in ``meta.missing`` (``bad data: ...``) and left out.
    """
    clock = frame.trigger.clock.token
    t_ref = frame.ref_time
    global_from_ref = global_from_sensor(index, clock)
    ref_from_global = global_from_ref.inverse()
    chosen = {ch: m.token for ch, m in frame.sync.chosen.items()}
    missing = dict(frame.sync.missing)
    lidar = None
    if LIDAR in chosen:
        lidar = _guarded(
            missing, LIDAR, lambda: _lidar(index, frame, ref_from_global, arrived.get(LIDAR, ()), cfg)
        )
    radar_parts = []
    for ch in cfg.radars:
        if ch in chosen:

            def one(c: str = ch) -> np.ndarray:
                pts = load_radar_channel(index, chosen[c], ref_from_global, t_ref, cfg)
                return keep_arrived(pts, t_ref, arrived.get(c, ()))

            part = _guarded(missing, ch, one)
            if part is not None:
                radar_parts.append(part)
    meta = SampleMeta(
        sample_token=frame.trigger.sample_token or "",
        scene_name=scene_name,
        timestamp=t_ref,
        global_from_ref=global_from_ref.matrix,
        ego_from_ref=ego_from_sensor(index, clock).matrix,
        missing=missing,
    )
    gt = None
    if cfg.load_gt and frame.trigger.sample_token:
        gt = load_gt(index, frame.trigger.sample_token, ref_from_global, drop_empty=cfg.drop_empty_boxes)
    return SensorSample(
        meta=meta,
        lidar=None if lidar is None else PointCloud(lidar),
        radar=RadarPoints(np.concatenate(radar_parts, axis=0)) if radar_parts else None,
        cameras=load_cameras(
            index, chosen, global_from_ref, cfg, missing, guard=lambda ch, fn: _guarded(missing, ch, fn)
        ),
        gt=gt,
    )
