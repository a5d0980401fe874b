"""What :func:`sensorfuse.data.load_sample` assembles, as one frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sensorfuse.classes import CAMERAS, LIDAR, RADARS
from sensorfuse.errors import ConfigError
from sensorfuse.sync.core import DEFAULT_MODALITY_TOLERANCE_US

OnMissing = Literal["raise", "drop_sensor"]


@dataclass(frozen=True)
class SampleConfig:
    """Sample assembly settings.

    Attributes:
        lidar_sweeps: LiDAR sweeps merged (the keyframe included), walking ``prev``.
        radar_sweeps: sweeps per radar.
        lidar_min_distance: drop points within this xy radius of the sensor (ego roof), m (devkit: 1.0).
        image_size: (H, W) of the output images (after resize and crop).
        image_scale: resize factor before the crop; None = the smallest that covers ``image_size``.
        lidars / cameras / radars: the sensors to load per modality, by the recording's sensor names (nuScenes:
            its channels; a bag: the rig file's names), order kept in the sample. LiDARs and radars are merged
            into one cloud each; cameras are stacked. Names the recording lacks are reported missing.
        reference: the sensor whose frame (at its message time) is the sample's reference frame and whose
            messages clock the frames (nuScenes: ``LIDAR_TOP``).
        radar_invalid_states / radar_dynprop_states / radar_ambig_states: radar filters; None = devkit default.
        tolerance_us: max |sensor time - keyframe time| per channel or modality (µs); beyond it the sensor
            is stale (missing).
        on_missing: ``raise`` a DataError on any bad/missing sensor, or ``drop_sensor``: mark it missing in
            ``meta.missing`` and go on.
        drop_empty_boxes: drop GT boxes with no LiDAR and no radar point (as the detection eval does).
        load_gt: attach ground truth boxes.
    """

    lidar_sweeps: int = 10
    radar_sweeps: int = 6
    lidar_min_distance: float = 1.0
    image_size: tuple[int, int] = (256, 704)
    image_scale: float | None = None
    lidars: tuple[str, ...] = (LIDAR,)
    cameras: tuple[str, ...] = CAMERAS
    radars: tuple[str, ...] = RADARS
    reference: str = LIDAR
    radar_invalid_states: tuple[int, ...] | None = None
    radar_dynprop_states: tuple[int, ...] | None = None
    radar_ambig_states: tuple[int, ...] | None = None
    tolerance_us: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MODALITY_TOLERANCE_US))
    on_missing: OnMissing = "raise"
    drop_empty_boxes: bool = True
    load_gt: bool = True

    def __post_init__(self) -> None:
        if self.lidar_sweeps < 1 or self.radar_sweeps < 1:
            raise ConfigError(
                f"SampleConfig: lidar_sweeps/radar_sweeps must be >= 1, got {self.lidar_sweeps}/{self.radar_sweeps}"
            )
        if self.on_missing not in ("raise", "drop_sensor"):
            raise ConfigError(
                f"SampleConfig.on_missing: expected 'raise' or 'drop_sensor', got {self.on_missing!r}"
            )
        h, w = self.image_size
        if h < 8 or w < 8:
            raise ConfigError(f"SampleConfig.image_size: expected (H, W) >= 8 px, got {self.image_size}")
        if self.image_scale is not None and not 0 < self.image_scale <= 4:
            raise ConfigError(f"SampleConfig.image_scale: expected in (0, 4], got {self.image_scale}")
        names = [*self.lidars, *self.cameras, *self.radars]
        if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"SampleConfig: sensor names must be distinct non-empty strings, got {names}")
        if not self.reference:
            raise ConfigError("SampleConfig.reference: expected the name of the reference sensor")

    def channels(self, modality: str) -> tuple[str, ...]:
        """The sensors to load of one modality (``lidar``, ``camera``, ``radar``)."""
        by = {"lidar": self.lidars, "camera": self.cameras, "radar": self.radars}
        if modality not in by:
            raise ConfigError(f"unknown modality {modality!r}; expected one of {tuple(by)}")
        return by[modality]

    def channels_for(self, modalities: Sequence[str]) -> list[str]:
        """The sensors a sample of ``modalities`` loads: LiDARs, then cameras, then radars."""
        return [c for m in ("lidar", "camera", "radar") if m in modalities for c in self.channels(m)]
