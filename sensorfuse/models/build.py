"""Explicit wiring: :class:`ModelConfig` → :class:`FusionDetector`. The only reader of the model config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from torch import nn

from sensorfuse.classes import MODALITIES
from sensorfuse.errors import ConfigError
from sensorfuse.models.blocks import res_stage
from sensorfuse.models.camera import CameraEncoder, build_image_backbone
from sensorfuse.models.config import FuserConfig, ModelConfig
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.dropout import SensorDropout
from sensorfuse.models.fusers import ConcatFuser, GatedFuser, LateFuser, TransformerFuser
from sensorfuse.models.head import CenterHead
from sensorfuse.models.parts import Encoder, Fuser
from sensorfuse.models.pillars import PillarEncoder
from sensorfuse.structures import LIDAR_COLUMNS, RADAR_COLUMNS

#: fuser kind → its class; built by :func:`build_fuser` from the fields named in :data:`FUSER_FIELDS`.
FUSERS: dict[str, Callable[..., Fuser]] = {
    "transformer": TransformerFuser,
    "concat": ConcatFuser,
    "gated": GatedFuser,
    "late": LateFuser,
}

#: Each kind's constructor keywords (after ``in_channels``) and the :class:`FuserConfig` field each is read
#: from. A kind is never handed the other fields, so they cannot change what it builds or learns: a concat run
#: stays valid when ``fuser.layers`` changes (``bench.detect`` reuses it across such a change).
FUSER_FIELDS: dict[str, dict[str, str]] = {
    "transformer": {"out_channels": "channels", "dim": "dim", "window": "window", "layers": "layers",
                    "heads": "heads"},
    "concat": {"out_channels": "channels"},
    "gated": {"out_channels": "channels"},
    "late": {"out_channels": "channels"},
}  # fmt: skip


def build_fuser(in_channels: dict[str, int], cfg: FuserConfig) -> Fuser:
    """The fuser ``cfg.kind`` over BEV maps with ``in_channels`` (modality → channels)."""
    if cfg.kind not in FUSERS:
        raise ConfigError(f"fuser.kind: unknown {cfg.kind!r}; expected one of {sorted(FUSERS)}")
    kwargs = {arg: getattr(cfg, name) for arg, name in FUSER_FIELDS[cfg.kind].items()}
    return FUSERS[cfg.kind](in_channels=in_channels, **kwargs)


def unread_fuser_fields(kind: str) -> frozenset[str]:
    """The :class:`FuserConfig` fields that fuser ``kind`` does not read (``kind`` itself excluded)."""
    every = {f.name for f in dataclasses.fields(FuserConfig)} - {"kind"}
    read = set(FUSER_FIELDS[kind].values()) if kind in FUSER_FIELDS else every
    return frozenset(every - read)


#: Per-column input scale of the pillar feature nets (LiDAR intensity 0..255 → 0..1).
LIDAR_SCALE = (1.0, 1.0, 1.0, 1.0 / 255.0, 1.0)
RADAR_SCALE = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 1.0)


def build_encoder(modality: str, cfg: ModelConfig) -> Encoder:
    """The encoder of one modality on ``cfg.grid``."""
    g = cfg.grid
    if modality in ("lidar", "radar"):
        pc = cfg.lidar if modality == "lidar" else cfg.radar
        columns, scale = (LIDAR_COLUMNS, LIDAR_SCALE) if modality == "lidar" else (RADAR_COLUMNS, RADAR_SCALE)
        return PillarEncoder(
            grid=g,
            in_columns=len(columns),
            feature_scale=scale,
            pillar_size=pc.pillar_size,
            max_points=pc.max_points_per_pillar,
            max_pillars=pc.max_pillars,
            pfn_channels=pc.pfn_channels,
            backbone_channels=pc.backbone_channels,
            blocks=pc.blocks_per_stage,
            out_channels=pc.out_channels,
            name=modality,
        )
    if modality == "camera":
        cc = cfg.camera
        backbone = build_image_backbone(
            cc.backbone, cc.stem_channels, cc.stage_channels, cc.blocks_per_stage, cc.neck_channels
        )
        return CameraEncoder(
            grid=g,
            backbone=backbone,
            depth_min=cc.depth_min,
            depth_max=cc.depth_max,
            depth_step=cc.depth_step,
            context_channels=cc.out_channels,
            out_channels=cc.out_channels,
        )
    raise ConfigError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def build_detector(cfg: ModelConfig, sensors: Iterable[str] | None = None) -> FusionDetector:
    """A :class:`FusionDetector` with encoders for ``sensors`` (default ``cfg.sensors``).

    Parts are wired from what they declare (:mod:`sensorfuse.models.parts`): the fuser's input channels from
    each encoder's ``output_shape()``, the decoder and head of each stream from the fuser's.
    """
    chosen = tuple(m for m in MODALITIES if m in set(cfg.sensors if sensors is None else sensors))
    extra = set(sensors or ()) - set(MODALITIES)
    if not chosen or extra:
        raise ConfigError(
            f"build_detector: sensors must be a non-empty subset of {MODALITIES}, got {sensors}"
        )
    encoders = {m: build_encoder(m, cfg) for m in chosen}
    fuser = build_fuser({m: e.output_shape().channels for m, e in encoders.items()}, cfg.fuser)
    streams = fuser.output_shape()
    dc = cfg.decoder
    decoder: dict[str, nn.Module] = {
        s: res_stage(spec.channels, dc.channels, dc.blocks, 1) if dc.blocks > 0 else nn.Identity()
        for s, spec in streams.items()
    }
    head = {
        s: CenterHead(dc.channels if dc.blocks > 0 else spec.channels, cfg.head.channels)
        for s, spec in streams.items()
    }
    num_classes = next(iter(head.values())).num_classes
    if len(cfg.head.nms_radius) != num_classes:
        raise ConfigError(f"head.nms_radius: expected {num_classes} values, got {len(cfg.head.nms_radius)}")
    return FusionDetector(
        grid=cfg.grid,
        encoders=encoders,
        fuser=fuser,
        decoder=decoder,
        head=head,
        head_cfg=cfg.head,
        dropout=build_dropout(cfg, chosen),
        depth_loss_weight=cfg.camera.depth_loss_weight if "camera" in chosen else 0.0,
    )


def build_dropout(cfg: ModelConfig, sensors: tuple[str, ...], seed: int = 0) -> SensorDropout | None:
    d = cfg.dropout
    probs = {m: p for m, p in (("lidar", d.lidar), ("camera", d.camera), ("radar", d.radar)) if m in sensors}
    if not any(probs.values()) and d.single_camera == 0 and d.radar_sweep == 0:
        return None
    for name, p in [*probs.items(), ("single_camera", d.single_camera), ("radar_sweep", d.radar_sweep)]:
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout.{name}: probability must be in [0, 1), got {p}")
    return SensorDropout(probs, d.single_camera, d.radar_sweep, d.radar_sweep_period, seed)
