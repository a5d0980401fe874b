"""Explicit wiring: :class:`ModelConfig` → :class:`FusionDetector`. The only reader of the model config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from torch import nn

from sensorfuse.errors import ConfigError
from sensorfuse.models.blocks import res_stage
from sensorfuse.models.camera import CameraEncoder, build_image_backbone
from sensorfuse.models.config import MODALITIES, FuserConfig, ModelConfig
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.dropout import SensorDropout
from sensorfuse.models.fusers import ConcatFuser, GatedFuser, LateFuser, TransformerFuser
from sensorfuse.models.head import CenterHead
from sensorfuse.models.pillars import PillarEncoder

#: fuser kind → its module; built by :func:`build_fuser` from the fields named in :data:`FUSER_FIELDS`.
FUSERS: dict[str, Callable[..., nn.Module]] = {
    "transformer": TransformerFuser,
    "concat": ConcatFuser,
    "gated": GatedFuser,
    "late": LateFuser,
}

#: The :class:`FuserConfig` fields each kind is built from, in its constructor's order after the input
#: channels. A kind is never handed the other fields, so they cannot change what it builds or learns: a concat
#: run stays valid when ``fuser.layers`` changes (``bench.detect`` reuses it across such a change).
FUSER_FIELDS: dict[str, tuple[str, ...]] = {
    "transformer": ("channels", "dim", "window", "layers", "heads"),
    "concat": ("channels",),
    "gated": ("channels",),
    "late": ("channels",),
}


def build_fuser(in_channels: dict[str, int], cfg: FuserConfig) -> nn.Module:
    """The fuser ``cfg.kind`` over BEV maps with ``in_channels`` (modality → channels)."""
    if cfg.kind not in FUSERS:
        raise ConfigError(f"fuser.kind: unknown {cfg.kind!r}; expected one of {sorted(FUSERS)}")
    return FUSERS[cfg.kind](in_channels, *(getattr(cfg, f) for f in FUSER_FIELDS[cfg.kind]))


def unread_fuser_fields(kind: str) -> frozenset[str]:
    """The :class:`FuserConfig` fields that fuser ``kind`` does not read (``kind`` itself excluded)."""
    every = {f.name for f in dataclasses.fields(FuserConfig)} - {"kind"}
    return frozenset(every - set(FUSER_FIELDS.get(kind, every)))


#: Per-column input scale of the pillar feature nets (LiDAR intensity 0..255 → 0..1).
LIDAR_SCALE = (1.0, 1.0, 1.0, 1.0 / 255.0, 1.0)
RADAR_SCALE = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 1.0)


def build_encoder(modality: str, cfg: ModelConfig) -> nn.Module:
    """The encoder of one modality on ``cfg.grid``."""
    g = cfg.grid
    if modality == "lidar":
        lc = cfg.lidar
        return PillarEncoder(
            g,
            5,
            LIDAR_SCALE,
            lc.pillar_size,
            lc.max_points_per_pillar,
            lc.max_pillars,
            lc.pfn_channels,
            lc.backbone_channels,
            lc.blocks_per_stage,
            lc.out_channels,
            "lidar",
        )
    if modality == "radar":
        rc = cfg.radar
        return PillarEncoder(
            g,
            7,
            RADAR_SCALE,
            rc.pillar_size,
            rc.max_points_per_pillar,
            rc.max_pillars,
            rc.pfn_channels,
            rc.backbone_channels,
            rc.blocks_per_stage,
            rc.out_channels,
            "radar",
        )
    if modality == "camera":
        cc = cfg.camera
        backbone = build_image_backbone(
            cc.backbone, cc.stem_channels, cc.stage_channels, cc.blocks_per_stage, cc.neck_channels
        )
        return CameraEncoder(
            g, backbone, cc.depth_min, cc.depth_max, cc.depth_step, cc.out_channels, cc.out_channels
        )
    raise ConfigError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def _channels(part: nn.Module) -> int:
    """The ``out_channels`` a part declares."""
    c = part.out_channels
    if not isinstance(c, int):
        raise ConfigError(f"{type(part).__name__} does not declare an integer out_channels")
    return c


def build_detector(cfg: ModelConfig, sensors: Iterable[str] | None = None) -> FusionDetector:
    """A :class:`FusionDetector` with encoders for ``sensors`` (default ``cfg.sensors``)."""
    chosen = tuple(m for m in MODALITIES if m in set(cfg.sensors if sensors is None else sensors))
    extra = set(sensors or ()) - set(MODALITIES)
    if not chosen or extra:
        raise ConfigError(
            f"build_detector: sensors must be a non-empty subset of {MODALITIES}, got {sensors}"
        )
    encoders = {m: build_encoder(m, cfg) for m in chosen}
    channels = {m: _channels(e) for m, e in encoders.items()}
    fuser = build_fuser(channels, cfg.fuser)
    streams: tuple[str, ...] = fuser.streams  # type: ignore[assignment]
    c_in = _channels(fuser)
    dc = cfg.decoder
    decoder = {
        s: res_stage(c_in, dc.channels, dc.blocks, 1) if dc.blocks > 0 else nn.Identity() for s in streams
    }
    head_in = dc.channels if dc.blocks > 0 else c_in
    head: dict[str, nn.Module] = {s: CenterHead(head_in, cfg.head.channels) for s in streams}
    if len(cfg.head.nms_radius) != head[streams[0]].num_classes:
        raise ConfigError(
            f"head.nms_radius: expected {head[streams[0]].num_classes} values, got {len(cfg.head.nms_radius)}"
        )
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
