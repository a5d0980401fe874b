"""Model configuration: nested frozen dataclasses, loaded from YAML with :func:`load_model_config`.

Read by the one dataclass reader of every config (:mod:`sensorfuse.utils.dataclass_io`: type checks, unknown
keys named), the same that reads the training config this one is a section of. Only
:func:`sensorfuse.models.build.build_detector` reads a :class:`ModelConfig`; the parts it builds take plain
keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorfuse.classes import MODALITIES
from sensorfuse.errors import ConfigError
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.utils.dataclass_io import from_dict
from sensorfuse.utils.yaml_io import read_yaml


@dataclass(frozen=True)
class LidarConfig:
    """Pillar encoder: voxelize → PointNet per pillar → scatter → 2D ResNet downsampling to the BEV cell."""

    pillar_size: float = 0.4  # m, must divide the BEV cell
    max_points_per_pillar: int = 20
    max_pillars: int = 30000
    pfn_channels: int = 32
    backbone_channels: tuple[int, ...] = (32, 64)  # one stage per entry; the last ones downsample
    blocks_per_stage: int = 1
    out_channels: int = 64


@dataclass(frozen=True)
class CameraConfig:
    """LSS camera encoder: ResNet backbone + neck → depth bins × features → frustum → bev_pool."""

    backbone: str = "resnet_lite"  # or "torchvision_resnet18" when torchvision imports
    stem_channels: int = 16
    stage_channels: tuple[int, ...] = (16, 32, 64)  # stage i has stride 2**(i+2) with the stem
    blocks_per_stage: int = 1
    neck_channels: int = 64
    depth_min: float = 1.0
    depth_max: float = 49.0
    depth_step: float = 1.5  # D = (max - min) / step bins
    out_channels: int = 64
    depth_loss_weight: float = 0.0  # > 0: supervise depth with LiDAR projected into the cameras


@dataclass(frozen=True)
class RadarConfig:
    """Radar pillars: (x, y, z, vx, vy, rcs, time_lag) + pillar offsets → PointNet → scatter → 2D convs."""

    pillar_size: float = 0.8
    max_points_per_pillar: int = 10
    max_pillars: int = 4000
    pfn_channels: int = 32
    backbone_channels: tuple[int, ...] = (32,)
    blocks_per_stage: int = 1
    out_channels: int = 32


@dataclass(frozen=True)
class FuserConfig:
    """kind ∈ transformer | concat | gated | late (see ``FUSERS`` in build.py)."""

    kind: str = "transformer"
    channels: int = 64  # fused BEV channels
    window: int = 8  # transformer: window edge in cells
    layers: int = 2
    heads: int = 4
    dim: int = 64  # transformer token width


@dataclass(frozen=True)
class DecoderConfig:
    """BEV decoder after fusion: ``blocks`` ResNet BasicBlocks at the BEV resolution."""

    channels: int = 64
    blocks: int = 2


@dataclass(frozen=True)
class HeadConfig:
    """CenterPoint head, targets, losses and decoding."""

    channels: int = 64
    gaussian_overlap: float = 0.1
    min_radius: int = 2
    max_objects: int = 500
    top_k: int = 200
    score_threshold: float = 0.05
    max_detections: int = 300
    #: per-class circle-NMS radius (m) in DETECTION_CLASSES order; 0 = no NMS for that class.
    nms_radius: tuple[float, ...] = (4.0, 6.0, 6.0, 8.0, 8.0, 1.0, 1.5, 1.5, 0.5, 0.5)
    heatmap_weight: float = 1.0
    regression_weight: float = 0.25
    attribute_weight: float = 0.2


@dataclass(frozen=True)
class DropoutConfig:
    """Missing-sensor dropout in training (probabilities per sample; never all present modalities at once)."""

    lidar: float = 0.0
    camera: float = 0.0
    radar: float = 0.0
    single_camera: float = 0.0  # each present camera independently
    radar_sweep: float = 0.0  # each radar sweep (time-lag bucket) independently
    radar_sweep_period: float = 0.077  # s, width of one time-lag bucket (13 Hz radars)


@dataclass(frozen=True)
class ModelConfig:
    grid: BEVGridSpec = field(default_factory=BEVGridSpec)
    sensors: tuple[str, ...] = MODALITIES
    lidar: LidarConfig = field(default_factory=LidarConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    radar: RadarConfig = field(default_factory=RadarConfig)
    fuser: FuserConfig = field(default_factory=FuserConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)

    def __post_init__(self) -> None:
        bad = [s for s in self.sensors if s not in MODALITIES]
        if bad or not self.sensors:
            raise ConfigError(
                f"ModelConfig.sensors: expected a non-empty subset of {MODALITIES}, got {self.sensors}"
            )


def model_config_from_dict(data: dict[str, Any], where: str = "model config") -> ModelConfig:
    """Build a :class:`ModelConfig` from plain data (lists become tuples); unknown keys, wrong types → ConfigError."""
    return from_dict(ModelConfig, data, where)


def load_model_config(path: str | Path) -> ModelConfig:
    """Read a model YAML (the mapping itself, or under a top-level ``model:`` key)."""
    p = Path(path)
    data = read_yaml(p, "model config")
    if isinstance(data, dict) and set(data) == {"model"}:
        data = data["model"]
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of model settings, got {type(data).__name__}")
    return model_config_from_dict(data, str(p))
