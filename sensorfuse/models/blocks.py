"""Small convolutional building blocks: ResNet BasicBlocks, an image backbone and a BEV backbone.

All are trained from scratch (no weights can be downloaded); a torchvision ResNet is an optional choice
in :func:`build_image_backbone` when ``import torchvision`` works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sensorfuse.errors import ConfigError
from sensorfuse.models.parts import Encoder, ShapeSpec


def conv_bn_relu(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """ResNet BasicBlock: two 3x3 convs with a (projected) identity shortcut. (B, c_in, H, W) → (B, c_out, H/s, W/s)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


def res_stage(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(c_in, c_out, stride)] + [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class BEVBackbone(nn.Module):
    """2D ResNet over a BEV pseudo-image that downsamples by ``stride`` (a power of two).

    (B, in_channels, H, W) → (B, out_channels, H / stride, W / stride). Stage ``i`` has ``channels[i]``;
    the last ``log2(stride)`` stages downsample by 2.
    """

    def __init__(
        self, in_channels: int, channels: tuple[int, ...], blocks: int, stride: int, out_channels: int
    ) -> None:
        super().__init__()
        n_down = stride.bit_length() - 1
        if stride < 1 or 1 << n_down != stride:
            raise ConfigError(f"BEVBackbone: stride must be a power of two, got {stride}")
        if n_down > len(channels):
            raise ConfigError(
                f"BEVBackbone: stride {stride} needs >= {n_down} stages, got channels {channels}"
            )
        stages, c = [], in_channels
        for i, ch in enumerate(channels):
            s = 2 if i >= len(channels) - n_down else 1
            stages.append(res_stage(c, ch, blocks, s))
            c = ch
        self.stages = nn.Sequential(*stages)
        self.out = conv_bn_relu(c, out_channels, k=1)
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.stages(x))


class ImageBackbone(Encoder):
    """ResNet-style image backbone with a two-level neck; (B, 3, H, W) float → (B, out_channels, H/s, W/s).

    Stem (3x3 stride 2 + 3x3 stride 2) gives stride 4; stage ``i`` of ``stage_channels`` has stride
    ``4 * 2**i``. The neck upsamples the last stage to the previous one and fuses them (a small FPN), so
    the output stride is ``4 * 2**(len(stage_channels) - 2)`` (8 for three stages).
    """

    def __init__(self, stem: int, stage_channels: tuple[int, ...], blocks: int, out_channels: int) -> None:
        super().__init__()
        if len(stage_channels) < 2:
            raise ConfigError(f"ImageBackbone: need >= 2 stages, got {stage_channels}")
        self.stem = nn.Sequential(conv_bn_relu(3, stem, stride=2), conv_bn_relu(stem, stem, stride=2))
        stages, c = [], stem
        for i, ch in enumerate(stage_channels):
            stages.append(res_stage(c, ch, blocks, 1 if i == 0 else 2))
            c = ch
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.Conv2d(stage_channels[-2], out_channels, 1)
        self.top = nn.Conv2d(stage_channels[-1], out_channels, 1)
        self.fuse = conv_bn_relu(out_channels, out_channels)
        self.out_channels = out_channels
        self.stride = 4 * 2 ** (len(stage_channels) - 2)

    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(self.out_channels, stride=self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        y = self.stem(x)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        lat = self.lateral(feats[-2])
        top = F.interpolate(self.top(feats[-1]), size=lat.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(lat + top)


class TorchvisionBackbone(Encoder):
    """torchvision ResNet-18 (random init) to stride 16 + neck; only when ``import torchvision`` works."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        try:
            import torchvision
        except Exception as e:  # ImportError, or a binary mismatch with this torch
            raise ConfigError(
                f"camera.backbone 'torchvision_resnet18' needs a working torchvision: {e}"
            ) from e
        r = torchvision.models.resnet18(weights=None)
        self.body = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3)
        self.neck = conv_bn_relu(256, out_channels)
        self.out_channels = out_channels
        self.stride = 16

    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(self.out_channels, stride=self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.body(x))
