"""Declared part interfaces: what each part says it outputs is what it outputs, and the builder wires from it.

class: hand-typed wiring (a channel count or stream list typed by hand that drifts from the part it describes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch
from tiny import tiny_config

from sensorfuse.models import build_detector
from sensorfuse.models.blocks import ImageBackbone
from sensorfuse.models.build import FUSER_FIELDS, FUSERS, build_fuser
from sensorfuse.models.config import FuserConfig
from sensorfuse.models.parts import Encoder, Fuser
from sensorfuse.structures import FusionBatch


@pytest.mark.parametrize("fuser", sorted(FUSERS))
def test_declared_shapes_match_the_outputs(fuser: str, make_batch: Callable[..., FusionBatch]) -> None:
    torch.manual_seed(0)
    model = build_detector(tiny_config(fuser)).eval()
    batch = make_batch(b=1, n_cam=2)
    present = model.active(batch)
    ny, nx = model.grid.shape
    feats = {m: model.encode_points(m, model.voxelize(batch, m, present[m])) for m in ("lidar", "radar")}
    images = model.camera_backbone(batch, present["camera"])
    feats["camera"] = model.view_transform(batch, present["camera"], images)[0]
    for m, x in feats.items():
        enc = model.encoders[m]
        assert isinstance(enc, Encoder)
        spec = enc.output_shape()
        assert x.shape == (1, spec.channels, ny, nx) and spec.grid == model.grid, m
    backbone = model.encoders["camera"].backbone
    assert isinstance(backbone, Encoder)
    spec = backbone.output_shape()
    assert spec.stride is not None and batch.camera is not None
    h, w = batch.camera.images.shape[-2:]
    assert images.shape[2:] == (spec.channels, h // spec.stride, w // spec.stride)
    fused = model.fuse(feats, present)
    declared = model.fuser.output_shape()
    assert set(fused.maps) == set(declared) == set(model.head) == set(model.decoder)
    assert all(fused.maps[s].shape == (1, declared[s].channels, ny, nx) for s in declared)


def test_builder_wires_fuser_inputs_from_the_encoders() -> None:
    """Changing an encoder's channels re-sizes the fuser's inputs with no other edit."""
    from dataclasses import replace

    cfg = tiny_config("concat")
    cfg = replace(cfg, radar=replace(cfg.radar, out_channels=5))
    model = build_detector(cfg)
    assert model.encoders["radar"].output_shape().channels == 5
    conv = model.fuser.conv[0]
    assert isinstance(conv, torch.nn.Conv2d)
    assert conv.in_channels == sum(e.output_shape().channels for e in model.encoders.values())


@pytest.mark.parametrize("kind", sorted(FUSERS))
def test_fuser_fields_are_constructor_keywords(kind: str) -> None:
    """Every kind is built by keyword: each mapped keyword is a constructor parameter, and each parameter
    but ``in_channels`` is mapped to a FuserConfig field."""
    params = set(inspect.signature(FUSERS[kind]).parameters) - {"in_channels"}
    assert set(FUSER_FIELDS[kind]) == params
    assert set(FUSER_FIELDS[kind].values()) <= set(FuserConfig.__dataclass_fields__)
    fuser = build_fuser({"lidar": 4, "camera": 3}, FuserConfig(kind=kind, channels=6, dim=8, heads=2))
    assert isinstance(fuser, Fuser)
    assert {s.channels for s in fuser.output_shape().values()} == {6}


def test_image_backbone_declares_its_stride() -> None:
    net = ImageBackbone(8, (8, 8, 16), 1, 12).eval()
    spec = net.output_shape()
    assert spec.stride == 8
    out = net(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, spec.channels, 64 // spec.stride, 96 // spec.stride)
