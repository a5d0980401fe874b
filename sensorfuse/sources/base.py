"""The source seam: what a recording of any rig provides to sensorfuse (:class:`Drive`).

Every recording enters through one interface. The nuScenes dataroot (:mod:`sensorfuse.sources.nuscenes`) and
a recorded ROS 2 bag / MCAP (:mod:`sensorfuse.sources.bag_drive`) implement it; the one assembler
(:func:`sensorfuse.data.assemble.assemble`) turns "these messages of these sensors" into a
:class:`~sensorfuse.structures.SensorSample` for training, evaluation and replay alike. A third format is one
module that implements :class:`Drive` (and a test); nothing else changes.

Conventions (as everywhere in sensorfuse): times are integer µs; transforms are
:class:`~sensorfuse.geometry.Transform` named ``target_from_source``; payloads are in the sensor's own frame:

* LiDAR: (N, 4) float32 ``x, y, z, intensity`` (m; intensity as recorded), deskewed to the message time
  when the recording has per-point times;
* radar: (N, 6) float32 ``x, y, z, vx_comp, vy_comp, rcs`` (m, m/s ego-motion compensated, dBsm), the
  velocity in the radar frame at the message time (zero where the recording has none);
* camera: :class:`CameraImage` — encoded bytes (JPEG/PNG) or a decoded RGB array, with its intrinsics K of
  the full-size image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sensorfuse.classes import MODALITIES
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import Transform
from sensorfuse.structures import Boxes3D
from sensorfuse.sync.core import Message

__all__ = ["MODALITIES", "CameraImage", "Drive", "SensorSpec"]


@dataclass(frozen=True)
class SensorSpec:
    """One sensor of a recording.

    Attributes:
        name: the sensor's name in this rig (nuScenes: the channel, e.g. ``CAM_FRONT``; a bag: the rig file's
            name for the topic) — the ``channel`` of its messages.
        modality: one of :data:`~sensorfuse.classes.MODALITIES`.
        frame_id: the sensor's coordinate frame in the recording (``/tf`` frame id; nuScenes: the channel).
    """

    name: str
    modality: str
    frame_id: str = ""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ConfigError(
                f"sensor {self.name!r}: modality {self.modality!r}, expected one of {MODALITIES}"
            )


@dataclass(frozen=True)
class CameraImage:
    """One camera message's image, not yet resized.

    Attributes:
        encoded: JPEG or PNG bytes (decoded at reduced size by the assembler), or None.
        rgb: (H, W, 3) uint8 RGB when the recording holds raw pixels, or None.
        intrinsics: (3, 3) float64 K of the full-size image.
        size: (width, height) of the full-size image; (0, 0) = read it from the encoded header.
        where: the file or ``file:topic`` named in errors.
    """

    encoded: bytes | None
    rgb: np.ndarray | None
    intrinsics: np.ndarray
    size: tuple[int, int]
    where: str


class Drive(Protocol):
    """A recording: its sensors, their time-ordered messages with lazily read payloads, where each sensor
    was at each message's time, and (optionally) annotations."""

    @property
    def name(self) -> str:
        """What the recording is called in reports (a scene name, a bag file name)."""
        ...

    @property
    def sensors(self) -> Mapping[str, SensorSpec]:
        """Sensor name → spec, in rig order."""
        ...

    def messages(self) -> Sequence[Message]:
        """Every sensor message, sorted by ``(timestamp, channel, token)``."""
        ...

    def keyframes(self) -> Mapping[str, str]:
        """Reference-sensor message token → annotated sample id, for the messages that carry annotations
        (nuScenes: keyframe sample_data → sample token); empty for a recording without annotations."""
        ...

    def history(self, msg: Message, n: int) -> list[Message]:
        """``msg`` and up to ``n - 1`` earlier messages of the same sensor, newest first.

        Raises:
            DataError: ``reason="broken chain"`` when the recording's own links between them are broken.
        """
        ...

    def global_from_sensor(self, msg: Message) -> Transform:
        """The sensor's frame at the message's capture time → the global (map / odometry) frame."""
        ...

    def ego_from_sensor(self, msg: Message) -> Transform:
        """The sensor's mounting (extrinsics) at the message's time."""
        ...

    def read_lidar(self, msg: Message) -> np.ndarray:
        """(N, 4) float32 ``x, y, z, intensity`` in the sensor frame (see the module docstring)."""
        ...

    def read_radar(self, msg: Message) -> np.ndarray:
        """(N, 6) float32 ``x, y, z, vx_comp, vy_comp, rcs`` in the radar frame."""
        ...

    def read_camera(self, msg: Message) -> CameraImage:
        """The image of a camera message with its full-size intrinsics."""
        ...

    def ground_truth(self, msg: Message) -> Boxes3D | None:
        """Annotated boxes at the time of ``msg`` (a keyframe of the reference sensor), or None if none.

        The boxes are in the **global** frame, ``boxes`` float64 (global coordinates need it), velocity NaN
        where the recording does not know it (the devkit's rule: such boxes do not count in mAVE); the
        assembler moves them into the sample's reference frame (float32, as :class:`Boxes3D` documents).
        """
        ...


def channels_of(sensors: Mapping[str, SensorSpec], modality: str) -> tuple[str, ...]:
    """The names of ``sensors`` of one modality, in rig order."""
    return tuple(n for n, s in sensors.items() if s.modality == modality)
