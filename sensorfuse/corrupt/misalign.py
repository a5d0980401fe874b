"""Spatial and temporal misalignment between sensors, as in Dong et al. ("Benchmarking Robustness of 3D Object
Detection to Common Corruptions in Autonomous Driving", CVPR 2023, ``LiDAR_corruptions.py``) and Yu et al.
("Benchmarking the Robustness of LiDAR-Camera Fusion for 3D Object Detection", CVPRW 2022).

Dong et al. define five levels; the three severities here are their levels 1, 3 and 5.

* **Spatial**: every sensor's calibration is off by a rigid motion of stated size: a rotation of exactly
  ``angle`` about a random axis and a translation of exactly ``shift`` in a random direction, drawn per
  sensor. Cameras: applied to ``cam_from_ref`` in the camera frame (the extrinsics are wrong, the image is
  right); LiDAR and the merged radar cloud: applied to the points (radar velocities rotated with them). Dong
  et al. add Gaussian noise of these sizes to the matrix entries; a rigid motion of the same size keeps the
  calibration a valid pose and makes the size exact.
* **Temporal**: one modality's stream is late by ``delay`` on the recording's real timestamps: each of its
  messages carries the payload of the newest message at least ``delay`` older, under the current message's
  time and pose (the fusion does not know it is late). It needs the recording, so it runs through a
  ``reload(modality, delay_us)`` callback (:data:`Reload`) that re-assembles the sample with a
  :class:`DelayedDrive`. Where the stream has no message that old (a scene's start) the sensor is absent,
  recorded as intended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from sensorfuse.corrupt.common import level, with_lidar, with_radar
from sensorfuse.data.accounting import INTENDED
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import DataError
from sensorfuse.sources.base import CameraImage
from sensorfuse.sources.nuscenes import NuScenesDrive, NuScenesIndex
from sensorfuse.structures import CameraSet, SensorSample
from sensorfuse.sync.core import Message

#: rotation angle (rad) and translation (m) of the calibration error: Dong et al. levels 1, 3, 5
SPATIAL = ((0.004, 0.04), (0.012, 0.12), (0.020, 0.20))
#: delay (ms) of the late stream: Dong et al.'s 2, 6, 10 frames at the LiDAR's 20 Hz
DELAY_MS = (100, 300, 500)
#: messages walked back to find one old enough (500 ms is 10 LiDAR sweeps)
MAX_BACK = 64

#: ``(modality, delay_us) → the same sample with that modality's stream delayed``
Reload = Callable[[str, int], SensorSample]


def rigid(axis: np.ndarray, angle: float, translation: np.ndarray) -> np.ndarray:
    """4x4 rigid transform: rotation by ``angle`` (rad) about ``axis`` (Rodrigues), then ``translation``."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    m = np.eye(4)
    m[:3, :3] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    m[:3, 3] = translation
    return m


def random_rigid(angle: float, shift: float, rng: np.random.Generator) -> np.ndarray:
    """A rigid motion rotating by exactly ``angle`` about a random axis and moving by exactly ``shift``."""
    axis = rng.normal(size=3)
    direction = rng.normal(size=3)
    return rigid(axis, angle, shift * direction / np.linalg.norm(direction))


def perturb_camera(cams: CameraSet, index: int, delta: np.ndarray) -> CameraSet:
    """A copy whose camera ``index`` has ``cam_from_ref`` replaced by ``delta @ cam_from_ref`` (``delta`` in the
    camera frame: the camera's extrinsic calibration is off by ``delta``'s inverse)."""
    cfr = cams.cam_from_ref.copy()
    cfr[index] = (delta @ cfr[index].astype(np.float64)).astype(cfr.dtype)
    return replace(cams, cam_from_ref=cfr)


def _moved(points: np.ndarray, m: np.ndarray, velocity: bool) -> np.ndarray:
    out = points.copy()
    out[:, :3] = (points[:, :3].astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
    if velocity:
        v = np.zeros((len(points), 3))
        v[:, :2] = points[:, 3:5]
        out[:, 3:5] = (v @ m[:3, :3].T)[:, :2].astype(np.float32)
    return out


def spatial_misalignment(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Every sensor's calibration off by a rigid motion of stated size (drawn per sensor, in the order LiDAR,
    radar, cameras). Severity 1/2/3: rotation 0.004, 0.012, 0.020 rad (0.23°, 0.69°, 1.15°) and translation
    0.04, 0.12, 0.20 m (Dong et al. levels 1, 3, 5)."""
    angle, shift = level(SPATIAL, severity, "spatial_misalignment")
    out = sample
    lidar_m, radar_m = random_rigid(angle, shift, rng), random_rigid(angle, shift, rng)
    if out.lidar is not None:
        out = with_lidar(out, _moved(out.lidar.points, lidar_m, velocity=False))
    if out.radar is not None:
        out = with_radar(out, _moved(out.radar.points, radar_m, velocity=True))
    if out.cameras is not None:
        cams = out.cameras
        for i in range(len(cams.channels)):
            cams = perturb_camera(cams, i, random_rigid(angle, shift, rng))
        out = replace(out, cameras=cams)
    return out


def _delayed(sample: SensorSample, modality: str, severity: int, reload: Reload) -> SensorSample:
    delay_us = 1000 * level(DELAY_MS, severity, f"temporal_{modality}")
    field = "cameras" if modality == "camera" else modality
    if getattr(sample, field) is None:
        return sample
    late = reload(modality, delay_us)
    added = {c: e for c, e in late.meta.missing.items() if c not in sample.meta.missing}
    out = replace(sample, **{field: getattr(late, field)})
    return replace(out, meta=replace(sample.meta, missing={**sample.meta.missing, **added}))


def temporal_lidar(
    sample: SensorSample, severity: int, rng: np.random.Generator, reload: Reload
) -> SensorSample:
    """The LiDAR stream late by 100, 300, 500 ms (severity 1/2/3), every merged sweep included."""
    return _delayed(sample, "lidar", severity, reload)


def temporal_camera(
    sample: SensorSample, severity: int, rng: np.random.Generator, reload: Reload
) -> SensorSample:
    """Every camera's stream late by 100, 300, 500 ms (severity 1/2/3); ``cam_from_ref`` stays the current one."""
    return _delayed(sample, "camera", severity, reload)


def temporal_radar(
    sample: SensorSample, severity: int, rng: np.random.Generator, reload: Reload
) -> SensorSample:
    """Every radar's stream late by 100, 300, 500 ms (severity 1/2/3), every merged sweep included."""
    return _delayed(sample, "radar", severity, reload)


class DelayedDrive(NuScenesDrive):
    """A nuScenes dataroot whose named sensors are late: reading a message of a delayed sensor returns the
    payload of the newest message of the same sensor at least ``delays[channel]`` µs older.

    Times, poses and calibration stay those of the message asked for. Where no message is old enough, the read
    raises a :class:`DataError` with the reason INTENDED (the sensor is left out as intended with
    ``on_missing="drop_sensor"``).
    """

    def __init__(
        self,
        index: NuScenesIndex,
        delays: Mapping[str, int],
        scene: str | None = None,
        radar_filters: Mapping[str, list[int]] | None = None,
    ) -> None:
        super().__init__(index, scene, radar_filters)
        self.delays = dict(delays)

    @classmethod
    def of(cls, drive: NuScenesDrive, delays: Mapping[str, int]) -> DelayedDrive:
        """The delayed twin of ``drive`` (same index, scene and radar filters)."""
        return cls(drive.index, delays, drive.scene, drive.radar_filters)

    def older(self, msg: Message) -> Message:
        """The message whose payload is read for ``msg`` (``msg`` itself when its sensor is not delayed)."""
        delay = self.delays.get(msg.channel, 0)
        if delay <= 0:
            return msg
        target = msg.timestamp - delay
        for m in self.history(msg, MAX_BACK):
            if m.timestamp <= target:
                return m
        raise DataError(
            msg.token,
            f"{msg.channel} delayed by {delay / 1000:g} ms: the recording has no {msg.channel} message that old "
            f"within {MAX_BACK} messages",
            "timestamp",
            reason=INTENDED,
        )

    def read_lidar(self, msg: Message) -> np.ndarray:
        return super().read_lidar(self.older(msg))

    def read_radar(self, msg: Message) -> np.ndarray:
        return super().read_radar(self.older(msg))

    def read_camera(self, msg: Message) -> CameraImage:
        return super().read_camera(self.older(msg))


def reload_for(index: NuScenesIndex, token: str, cfg: SampleConfig) -> Reload:
    """The :data:`Reload` of keyframe ``token``: re-assemble it with one modality's sensors late (a sensor with no
    message that old is left out, as intended: ``on_missing="drop_sensor"`` for this load)."""
    from sensorfuse.data.sample import load_sample, nuscenes_drive

    def reload(modality: str, delay_us: int) -> SensorSample:
        c = replace(cfg, on_missing="drop_sensor")
        delays = dict.fromkeys(c.channels_for([modality]), delay_us)
        return load_sample(index, token, c, DelayedDrive.of(nuscenes_drive(index, c), delays))

    return reload
