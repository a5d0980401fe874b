"""Declared part interfaces: each part says what it outputs, and the builder wires the next part from that.

As detectron2's ``ShapeSpec`` + ``backbone.output_shape()``: an :class:`Encoder` (image backbone, LiDAR/radar
pillar encoder, camera encoder) declares its one output map, a :class:`Fuser` declares one map per output
stream. :func:`sensorfuse.models.build.build_detector` reads these declarations — never a hand-typed channel
count — to size the fuser, the decoders and the heads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from sensorfuse.models.grid import BEVGridSpec


@dataclass(frozen=True)
class ShapeSpec:
    """One output map of a part, (B, channels, h, w).

    Attributes:
        channels: feature channels.
        stride: input pixels per output cell (image backbones); None where the output is not a fixed
            downsampling of the input.
        grid: the BEV grid the map lies on (BEV encoders); None for image features and for fusers, whose
            outputs lie on the grid of their inputs.
    """

    channels: int
    stride: int | None = None
    grid: BEVGridSpec | None = None


class Encoder(nn.Module):
    """A part with one output map, declared by :meth:`output_shape`."""

    def output_shape(self) -> ShapeSpec:
        raise NotImplementedError(f"{type(self).__name__} does not declare its output_shape()")


@dataclass
class FusedBEV:
    """``maps``: stream → (B, C, ny, nx); ``present``: stream → (B,) bool (whether the stream has data)."""

    maps: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]


class Fuser(nn.Module):
    """Per-modality BEV maps → :class:`FusedBEV` (one map per stream).

    ``forward(feats, present)``: ``feats`` modality → (B, C_m, ny, nx) for the modalities that were encoded,
    ``present`` modality → (B,) bool. Early fusers have the one stream ``"fused"``; a late fuser has one per
    modality.

    Args:
        in_channels: modality → channels of its BEV map (from the encoders' :meth:`Encoder.output_shape`).
        out_channels: channels of every output stream.
        streams: the output stream names.
    """

    def __init__(
        self, in_channels: Mapping[str, int], out_channels: int, streams: tuple[str, ...] = ("fused",)
    ) -> None:
        super().__init__()
        self.modalities = tuple(in_channels)
        self.out_channels = out_channels
        self.streams = streams

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Stream → the shape of its map."""
        return {s: ShapeSpec(self.out_channels) for s in self.streams}

    def forward(self, feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> FusedBEV:
        raise NotImplementedError
