"""A nuScenes dataroot as a :class:`~sensorfuse.sources.base.Drive` (through :class:`NuScenesIndex`).

Messages are ``sample_data`` records (token = sample_data token, channel = the nuScenes channel); poses come
from each record's own ``ego_pose`` and ``calibrated_sensor``; payloads are the dataroot's files, read by the
project's checked readers (:mod:`sensorfuse.io`). One drive serves a whole dataroot; :meth:`messages` needs
the ``scene`` it was opened for (replay), the rest works on any record (keyframe loading).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from sensorfuse.boxes import from_nuscenes
from sensorfuse.classes import ATTRIBUTE_INDEX, CATEGORY_TO_CLASS, CLASS_INDEX
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.geometry import Transform
from sensorfuse.io.jpeg import read_image_bytes
from sensorfuse.io.lidar_bin import read_lidar_bin
from sensorfuse.io.radar_pcd import read_radar_pcd
from sensorfuse.sources.base import CameraImage, SensorSpec
from sensorfuse.sources.nuscenes.chain import ego_from_sensor, existing_file, global_from_sensor, walk_sweeps
from sensorfuse.sources.nuscenes.index import NuScenesIndex
from sensorfuse.structures import Boxes3D
from sensorfuse.sync.core import Message

#: Columns of the devkit's 18-row radar layout that the Drive returns: x, y, z, vx_comp, vy_comp, rcs.
RADAR_PCD_COLUMNS = (0, 1, 2, 8, 9, 5)


class NuScenesDrive:
    """The :class:`~sensorfuse.sources.base.Drive` of a nuScenes dataroot (or one of its scenes).

    Args:
        index: the dataroot's index.
        scene: the scene :meth:`messages` and :attr:`name` refer to (None: keyframe loading only).
        radar_filters: ``invalid_states`` / ``dynprop_states`` / ``ambig_states`` for the radar reader
            (None = the devkit's defaults), see :func:`sensorfuse.io.radar_pcd.read_radar_pcd`.
    """

    def __init__(
        self,
        index: NuScenesIndex,
        scene: str | None = None,
        radar_filters: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        if scene is not None:
            index.scene_tokens(scene)  # DataError listing the scenes when unknown
        self.index, self.scene = index, scene
        self.radar_filters = {k: list(v) for k, v in (radar_filters or {}).items()}

    @property
    def name(self) -> str:
        return self.scene or f"{self.index.dataroot}/{self.index.version}"

    @cached_property
    def sensors(self) -> Mapping[str, SensorSpec]:
        return {ch: SensorSpec(ch, modality, ch) for ch, modality in self.index.channels.items()}

    # -- messages ---------------------------------------------------------------------------------------------
    def message(self, sd_token: str) -> Message:
        """The message of one sample_data record."""
        rec = self.index.sample_data.get(sd_token)
        if rec is None:
            raise DataError(sd_token, f"sample_data token not found in {self.name}", "sample_data_token")
        return Message(
            channel=str(rec["channel"]),
            timestamp=int(rec["timestamp"]),
            token=sd_token,
            is_key_frame=bool(rec["is_key_frame"]),
            filename=str(rec["filename"]),
            modality=str(rec["modality"]),
        )

    def messages(self) -> list[Message]:
        """Every sample_data (keyframes and sweeps, all sensors) of the scene, sorted by time.

        A sweep belongs to the scene of its ``sample_token`` (nuScenes links every sweep to a keyframe sample).
        """
        if self.scene is None:
            raise ConfigError("NuScenesDrive.messages() needs the drive opened for one scene")
        self.index.scene_tokens(self.scene)  # DataError naming the scenes when unknown
        msgs = [self.message(tok) for tok in self.index.scene_sample_data(self.scene)]
        if not msgs:
            raise DataError(f"scene:{self.scene}", f"scene {self.scene!r} has no sample_data", "sample_data")
        return sorted(msgs, key=lambda m: (m.timestamp, m.channel, m.token))

    def keyframes(self) -> dict[str, str]:
        """Keyframe sample_data token → its sample token, for the scene's samples."""
        samples = self.index.scene_tokens(self.scene) if self.scene else list(self.index.samples)
        return {tok: s for s in samples for tok in self.index.samples[s]["data"].values()}

    def history(self, msg: Message, n: int) -> list[Message]:
        return [self.message(t) for t in walk_sweeps(self.index, msg.token, n)]

    # -- poses ------------------------------------------------------------------------------------------------
    def global_from_sensor(self, msg: Message) -> Transform:
        return global_from_sensor(self.index, msg.token)

    def ego_from_sensor(self, msg: Message) -> Transform:
        return ego_from_sensor(self.index, msg.token)

    # -- payloads ---------------------------------------------------------------------------------------------
    def read_lidar(self, msg: Message) -> np.ndarray:
        """(N, 5) float32 ``x, y, z, intensity, ring`` of the ``.pcd.bin`` (the first four are the Drive's)."""
        return read_lidar_bin(existing_file(self.index, msg.token))

    def read_radar(self, msg: Message) -> np.ndarray:
        """(N, 6) float32 ``x, y, z, vx_comp, vy_comp, rcs`` of the radar PCD, after the state filters."""
        path = existing_file(self.index, msg.token)
        raw = np.asarray(read_radar_pcd(path, **self.radar_filters))  # type: ignore[arg-type]
        if len(raw) == 0:
            return np.zeros((0, 6), np.float32)
        if raw.ndim != 2 or raw.shape[1] != 18:
            raise DataError(
                path, f"radar reader returned shape {raw.shape}, expected (N, 18)", reason="corrupt"
            )
        out = raw[:, RADAR_PCD_COLUMNS].astype(np.float32)
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            raise DataError(
                path,
                f"{int(bad.sum())} of {len(out)} radar points have NaN/inf values",
                "points",
                reason="corrupt",
            )
        return out

    def read_camera(self, msg: Message) -> CameraImage:
        rec = self.index.sample_data[msg.token]
        k = self.index.calib[rec["calib"]]["intrinsic"]
        if k is None:
            raise DataError(
                rec["calib"], f"{msg.channel} calibration has no camera_intrinsic", "camera_intrinsic",
                reason="bad calibration",
            )  # fmt: skip
        path = existing_file(self.index, msg.token)
        size = (int(rec["width"]), int(rec["height"]))
        return CameraImage(read_image_bytes(path), None, np.asarray(k, np.float64), size, str(path))

    def ground_truth(self, msg: Message) -> Boxes3D | None:
        """The detection-class boxes of the keyframe's sample (global frame, float64), or None for a sweep.

        Categories outside the 10 detection classes are left out. Velocity is the devkit's ``box_velocity``
        (global, centred difference); NaN where the devkit has none (an instance seen once), as the devkit's
        ground truth keeps it (training treats it as 0, :func:`sensorfuse.data.assemble.ground_truth`).
        """
        rec = self.index.sample_data[msg.token]
        if not rec["is_key_frame"]:
            return None
        anns: list[dict[str, Any]] = [
            self.index.annotations[t] | {"token": t} for t in self.index.sample(rec["sample"])["anns"]
        ]
        anns = [a for a in anns if a["category"] in CATEGORY_TO_CLASS]
        if not anns:
            return Boxes3D.empty()
        boxes = from_nuscenes(
            np.array([a["translation"] for a in anns]),
            np.array([a["size"] for a in anns]),
            np.array([a["rotation"] for a in anns]),
        )
        vel = np.array([[np.nan if v is None else v for v in a["velocity"]] for a in anns], dtype=np.float64)
        return Boxes3D(
            boxes=np.concatenate([boxes, vel], axis=1),
            labels=np.array([CLASS_INDEX[CATEGORY_TO_CLASS[a["category"]]] for a in anns], np.int64),
            attributes=np.array([ATTRIBUTE_INDEX.get(a["attribute"], -1) for a in anns], np.int64),
            scores=np.ones(len(anns), np.float32),
            num_lidar_pts=np.array([a["num_lidar_pts"] for a in anns], np.int64),
            num_radar_pts=np.array([a["num_radar_pts"] for a in anns], np.int64),
            tokens=tuple(a["token"] for a in anns),
        )
