"""Typed data passed between the parts of sensorfuse.

Per-sample structures hold numpy arrays (what the data layer produces); :class:`FusionBatch` holds torch
tensors (what the model consumes) and is built by :func:`collate`. All geometry is in the **reference
frame**: the LIDAR_TOP sensor frame at the keyframe timestamp (x right, y forward, z up for the real rig),
after any training augmentation. Boxes follow :mod:`sensorfuse.boxes`.

A missing sensor is *absent* (``None`` or a ``False`` entry of a presence mask), never a zero tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import torch

#: Columns of a LiDAR point row: position (m, reference frame), intensity (0-255), time lag to the keyframe (s, >= 0).
LIDAR_COLUMNS: Final[tuple[str, ...]] = ("x", "y", "z", "intensity", "time_lag")
#: Columns of a radar point row: position (m), ego-motion-compensated velocity rotated into the reference
#: frame (m/s), radar cross section (dBsm), time lag (s).
RADAR_COLUMNS: Final[tuple[str, ...]] = ("x", "y", "z", "vx_comp", "vy_comp", "rcs", "time_lag")
#: Columns of a box row (see :mod:`sensorfuse.boxes`).
BOX_COLUMNS: Final[tuple[str, ...]] = ("x", "y", "z", "l", "w", "h", "yaw", "vx", "vy")


@dataclass
class PointCloud:
    """Merged multi-sweep LiDAR points (N, 5) float32, columns :data:`LIDAR_COLUMNS`."""

    points: np.ndarray

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != len(LIDAR_COLUMNS):
            raise ValueError(f"PointCloud.points must be (N, {len(LIDAR_COLUMNS)}), got {self.points.shape}")

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass
class RadarPoints:
    """Merged radar points of all radars and sweeps (N, 7) float32, columns :data:`RADAR_COLUMNS`."""

    points: np.ndarray

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != len(RADAR_COLUMNS):
            raise ValueError(f"RadarPoints.points must be (N, {len(RADAR_COLUMNS)}), got {self.points.shape}")

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass
class CameraSet:
    """The rig's cameras at one keyframe.

    Attributes:
        channels: camera channel names, length N_cam (e.g. the 6 nuScenes cameras).
        images: (N_cam, H, W, 3) uint8 RGB (after resize/crop); rows of absent cameras are undefined.
        intrinsics: (N_cam, 3, 3) float32 K of the (resized/cropped) image.
        cam_from_ref: (N_cam, 4, 4) float32, reference frame → camera frame at the camera's own timestamp.
        present: (N_cam,) bool; False for a camera that is missing or stale.
    """

    channels: tuple[str, ...]
    images: np.ndarray
    intrinsics: np.ndarray
    cam_from_ref: np.ndarray
    present: np.ndarray


@dataclass
class Boxes3D:
    """Ground-truth or predicted boxes in the reference frame.

    Attributes:
        boxes: (M, 9) float32, columns :data:`BOX_COLUMNS`.
        labels: (M,) int64 index into :data:`sensorfuse.classes.DETECTION_CLASSES`.
        attributes: (M,) int64 index into :data:`sensorfuse.classes.ATTRIBUTES`, -1 for none.
        scores: (M,) float32 (1.0 for ground truth).
        num_lidar_pts / num_radar_pts: (M,) int64, -1 when unknown (predictions).
        tokens: per-box annotation tokens ('' for predictions).
    """

    boxes: np.ndarray
    labels: np.ndarray
    attributes: np.ndarray
    scores: np.ndarray
    num_lidar_pts: np.ndarray
    num_radar_pts: np.ndarray
    tokens: tuple[str, ...] = ()

    @staticmethod
    def empty() -> Boxes3D:
        return Boxes3D(
            boxes=np.zeros((0, len(BOX_COLUMNS)), np.float32),
            labels=np.zeros(0, np.int64),
            attributes=np.zeros(0, np.int64),
            scores=np.zeros(0, np.float32),
            num_lidar_pts=np.zeros(0, np.int64),
            num_radar_pts=np.zeros(0, np.int64),
        )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def select(self, mask: np.ndarray) -> Boxes3D:
        idx = np.flatnonzero(mask) if mask.dtype == bool else np.asarray(mask)
        return Boxes3D(
            boxes=self.boxes[idx],
            labels=self.labels[idx],
            attributes=self.attributes[idx],
            scores=self.scores[idx],
            num_lidar_pts=self.num_lidar_pts[idx],
            num_radar_pts=self.num_radar_pts[idx],
            tokens=tuple(self.tokens[i] for i in idx) if self.tokens else (),
        )


@dataclass
class SampleMeta:
    """Identity and pose of one keyframe.

    Attributes:
        sample_token: nuScenes sample token.
        scene_name: scene name (e.g. ``scene-0103``).
        timestamp: keyframe (LIDAR_TOP) timestamp, µs.
        global_from_ref: (4, 4) float64, reference frame → global frame (undoes any augmentation).
        ego_from_ref: (4, 4) float64, reference frame → ego frame at the keyframe.
        missing: sensor channel → reason, for every sensor that was absent or stale.
    """

    sample_token: str
    scene_name: str
    timestamp: int
    global_from_ref: np.ndarray
    ego_from_ref: np.ndarray
    missing: dict[str, str] = field(default_factory=dict)


@dataclass
class SensorSample:
    """One keyframe with every sensor merged into the reference frame; ``None`` = modality absent."""

    meta: SampleMeta
    lidar: PointCloud | None
    radar: RadarPoints | None
    cameras: CameraSet | None
    gt: Boxes3D | None = None

    def without(self, *modalities: str) -> SensorSample:
        """A copy with the named modalities (``lidar``, ``camera``, ``radar``) removed."""
        kw: dict[str, object] = {}
        for m in modalities:
            if m not in ("lidar", "camera", "radar"):
                raise ValueError(f"unknown modality {m!r}; expected lidar, camera or radar")
            kw["cameras" if m == "camera" else m] = None
        return replace(self, **kw)  # type: ignore[arg-type]


@dataclass
class CameraBatch:
    """Camera tensors of a batch.

    Attributes:
        images: (B, N_cam, 3, H, W) uint8 RGB.
        intrinsics: (B, N_cam, 3, 3) float32.
        cam_from_ref: (B, N_cam, 4, 4) float32.
        present: (B, N_cam) bool.
    """

    images: torch.Tensor
    intrinsics: torch.Tensor
    cam_from_ref: torch.Tensor
    present: torch.Tensor

    def to(self, device: torch.device | str) -> CameraBatch:
        return CameraBatch(
            *(
                t.to(device, non_blocking=True)
                for t in (self.images, self.intrinsics, self.cam_from_ref, self.present)
            )
        )


@dataclass
class FusionBatch:
    """What :class:`sensorfuse.models.FusionDetector` consumes.

    Attributes:
        lidar: per-sample (N_i, 5) float32 points, or None when no sample of the batch has LiDAR.
        radar: per-sample (N_i, 7) float32 points, or None.
        camera: :class:`CameraBatch`, or None.
        present: modality → (B,) bool: the modality is present for that sample. A modality whose
            tensors exist can still be absent for some samples (missing-sensor dropout).
        gt_boxes / gt_labels / gt_attributes: per-sample (M_i, 9) float32 / (M_i,) int64 / (M_i,) int64.
        meta: per-sample :class:`SampleMeta`.
    """

    lidar: list[torch.Tensor] | None
    radar: list[torch.Tensor] | None
    camera: CameraBatch | None
    present: dict[str, torch.Tensor]
    meta: list[SampleMeta]
    gt_boxes: list[torch.Tensor] | None = None
    gt_labels: list[torch.Tensor] | None = None
    gt_attributes: list[torch.Tensor] | None = None

    @property
    def batch_size(self) -> int:
        return len(self.meta)

    def to(self, device: torch.device | str) -> FusionBatch:
        def mv(xs: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
            return None if xs is None else [x.to(device, non_blocking=True) for x in xs]

        return FusionBatch(
            lidar=mv(self.lidar),
            radar=mv(self.radar),
            camera=None if self.camera is None else self.camera.to(device),
            present={k: v.to(device) for k, v in self.present.items()},
            meta=self.meta,
            gt_boxes=mv(self.gt_boxes),
            gt_labels=mv(self.gt_labels),
            gt_attributes=mv(self.gt_attributes),
        )


def collate(samples: list[SensorSample]) -> FusionBatch:
    """Stack samples into a :class:`FusionBatch` (the ``collate_fn`` of the training DataLoader).

    A modality's tensors exist when at least one sample has it; ``present`` says which samples do.
    Samples without it contribute an empty point list (LiDAR/radar) or all-absent cameras.
    """
    if not samples:
        raise ValueError("collate() needs at least one sample")
    b = len(samples)
    present = {
        "lidar": torch.tensor([s.lidar is not None for s in samples]),
        "radar": torch.tensor([s.radar is not None for s in samples]),
        "camera": torch.tensor([s.cameras is not None and bool(s.cameras.present.any()) for s in samples]),
    }
    lidar = radar = None
    if bool(present["lidar"].any()):
        lidar = [
            torch.from_numpy(np.ascontiguousarray(s.lidar.points))
            if s.lidar is not None
            else torch.zeros(0, len(LIDAR_COLUMNS))
            for s in samples
        ]
    if bool(present["radar"].any()):
        radar = [
            torch.from_numpy(np.ascontiguousarray(s.radar.points))
            if s.radar is not None
            else torch.zeros(0, len(RADAR_COLUMNS))
            for s in samples
        ]
    camera = None
    if bool(present["camera"].any()):
        ref = next(s.cameras for s in samples if s.cameras is not None)
        n, h, w = ref.images.shape[0], ref.images.shape[1], ref.images.shape[2]
        images = torch.zeros(b, n, 3, h, w, dtype=torch.uint8)
        intr = torch.eye(3).repeat(b, n, 1, 1)  # absent cameras: a valid K (never used, always invertible)
        cfr = torch.eye(4).repeat(b, n, 1, 1)
        pres = torch.zeros(b, n, dtype=torch.bool)
        for i, s in enumerate(samples):
            if s.cameras is None:
                continue
            c = s.cameras
            if c.images.shape[:3] != (n, h, w):
                raise ValueError(
                    f"sample {s.meta.sample_token}: camera images {c.images.shape} differ from the batch's {(n, h, w)}"
                )
            images[i] = torch.from_numpy(np.ascontiguousarray(c.images)).permute(0, 3, 1, 2)
            intr[i] = torch.from_numpy(c.intrinsics.astype(np.float32))
            cfr[i] = torch.from_numpy(c.cam_from_ref.astype(np.float32))
            pres[i] = torch.from_numpy(c.present.astype(bool))
        camera = CameraBatch(images=images, intrinsics=intr, cam_from_ref=cfr, present=pres)
    gt_boxes = gt_labels = gt_attrs = None
    if all(s.gt is not None for s in samples):
        gts = [s.gt for s in samples if s.gt is not None]
        gt_boxes = [torch.from_numpy(g.boxes.astype(np.float32)) for g in gts]
        gt_labels = [torch.from_numpy(g.labels.astype(np.int64)) for g in gts]
        gt_attrs = [torch.from_numpy(g.attributes.astype(np.int64)) for g in gts]
    return FusionBatch(
        lidar=lidar,
        radar=radar,
        camera=camera,
        present=present,
        meta=[s.meta for s in samples],
        gt_boxes=gt_boxes,
        gt_labels=gt_labels,
        gt_attributes=gt_attrs,
    )
