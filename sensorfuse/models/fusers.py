"""Fusers: per-modality BEV maps on one grid → the BEV map(s) the head reads.

Every fuser is a :class:`~sensorfuse.models.parts.Fuser`: it takes ``feats`` (modality → (B, C_m, ny, nx), only
for modalities that were encoded) and ``present`` (modality → (B,) bool), returns a :class:`FusedBEV` and
declares its output streams and channels (``output_shape()``). Where a modality is absent (not
encoded, or ``present`` False for a sample) a learned *missing* token stands in for its map, so no zero
tensor ever poses as sensor data. Early fusers return one stream ``"fused"``; :class:`LateFuser` returns
one stream per modality, each read by its own head, and the detector sums their heatmap logits.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from sensorfuse.models.blocks import conv_bn_relu
from sensorfuse.models.parts import FusedBEV, Fuser

__all__ = ["ConcatFuser", "FusedBEV", "Fuser", "GatedFuser", "LateFuser", "MissingTokens", "TransformerFuser"]


class MissingTokens(nn.Module):
    """One learned vector per modality that replaces the BEV map of an absent modality."""

    def __init__(self, channels: dict[str, int]) -> None:
        super().__init__()
        self.tokens = nn.ParameterDict({m: nn.Parameter(torch.zeros(c)) for m, c in channels.items()})

    def fill(
        self,
        m: str,
        feats: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor],
        like: torch.Tensor,
    ) -> torch.Tensor:
        """The map of modality ``m`` (B, C_m, ny, nx) with absent samples replaced by the token."""
        tok = self.tokens[m].view(1, -1, 1, 1)
        b, _, h, w = like.shape
        if m not in feats:
            return tok.expand(b, -1, h, w)
        here = present[m].view(-1, 1, 1, 1).to(feats[m].device)
        return torch.where(here, feats[m], tok.to(feats[m].dtype))


def _any_present(feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([present[m].to(next(iter(feats.values())).device) for m in feats]).any(0)


class ConcatFuser(Fuser):
    """BEVFusion's fuser: concatenate the modality maps, 3x3 conv + BN + ReLU."""

    def __init__(self, in_channels: dict[str, int], out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.missing = MissingTokens(in_channels)
        self.conv = conv_bn_relu(sum(in_channels.values()), out_channels)

    def forward(self, feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> FusedBEV:
        like = next(iter(feats.values()))
        x = torch.cat([self.missing.fill(m, feats, present, like) for m in self.modalities], dim=1)
        return FusedBEV({"fused": self.conv(x)}, {"fused": _any_present(feats, present)})


class GatedFuser(Fuser):
    """Per-cell softmax gates over modalities: ``sum_m g_m * proj_m(x_m)``, gates from all maps together."""

    def __init__(self, in_channels: dict[str, int], out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.missing = MissingTokens(in_channels)
        self.proj = nn.ModuleDict({m: conv_bn_relu(c, out_channels, k=1) for m, c in in_channels.items()})
        self.gate = nn.Conv2d(sum(in_channels.values()), len(in_channels), 3, padding=1)

    def forward(self, feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> FusedBEV:
        like = next(iter(feats.values()))
        xs = [self.missing.fill(m, feats, present, like) for m in self.modalities]
        g = self.gate(torch.cat(xs, dim=1)).softmax(dim=1)  # (B, M, ny, nx)
        terms = (g[:, i : i + 1] * self.proj[m](x) for i, (m, x) in enumerate(zip(self.modalities, xs)))
        out: torch.Tensor = functools.reduce(operator.add, terms)
        return FusedBEV({"fused": out}, {"fused": _any_present(feats, present)})


class LateFuser(Fuser):
    """Late fusion: each present modality keeps its own map (1x1 projection) and its own head downstream.

    The detector sums the heads' heatmap logits over present streams (product of experts for
    conditionally independent evidence) and averages their regressions.
    """

    def __init__(self, in_channels: dict[str, int], out_channels: int) -> None:
        super().__init__(in_channels, out_channels, streams=tuple(in_channels))
        self.proj = nn.ModuleDict({m: conv_bn_relu(c, out_channels, k=1) for m, c in in_channels.items()})

    def forward(self, feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> FusedBEV:
        maps = {m: self.proj[m](x) for m, x in feats.items()}
        return FusedBEV(maps, {m: present[m].to(x.device) for m, x in feats.items()})


class WindowBlock(nn.Module):
    """Pre-norm transformer block over tokens grouped in windows: (W, T, dim) with key mask (W, T).

    The last layer of each residual branch (attention output projection, MLP output) starts at zero, so a
    fresh block is the identity and the fuser starts as a per-modality projection + fusing conv; attention
    is then learned where it lowers the loss (the zero-init residual of Fixup / ReZero / adaLN-zero).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        mlp_out = nn.Linear(2 * dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), mlp_out)
        for last in (self.proj, mlp_out):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        w, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(w, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(att.transpose(1, 2).reshape(w, t, d))
        return x + self.mlp(self.norm2(x))


class TransformerFuser(Fuser):
    """Cross-modal local-window attention over BEV cells.

    Each cell contributes one token per modality (1x1 projection to ``dim`` + modality embedding; a learned
    missing token for an absent modality). Tokens of a ``window x window`` block of cells attend to each
    other across cells *and* modalities (T = window² · M tokens per window), with a learned in-window
    position embedding; odd layers shift the windows by half a window so information crosses window
    borders. Cost is linear in the number of cells. Output: the M attended tokens of each cell concatenated
    and fused by a 3x3 conv + BN + ReLU to ``out_channels`` (BEVFusion's fusing conv, applied to tokens
    that have already exchanged evidence across modalities and neighbouring cells).
    """

    def __init__(
        self, in_channels: dict[str, int], out_channels: int, dim: int, window: int, layers: int, heads: int
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.window = window
        self.proj = nn.ModuleDict({m: nn.Conv2d(c, dim, 1) for m, c in in_channels.items()})
        self.missing = MissingTokens({m: dim for m in in_channels})
        self.modality_embed = nn.Parameter(torch.randn(len(in_channels), dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(window * window, dim) * 0.02)
        self.blocks = nn.ModuleList([WindowBlock(dim, heads) for _ in range(layers)])
        self.out = conv_bn_relu(dim * len(in_channels), out_channels, k=3)

    def forward(self, feats: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> FusedBEV:
        projected = {m: self.proj[m](x) for m, x in feats.items()}
        like = next(iter(projected.values()))
        tok = torch.stack([self.missing.fill(m, projected, present, like) for m in self.modalities], dim=1)
        tok = tok.permute(0, 3, 4, 1, 2) + self.modality_embed  # (B, ny, nx, M, dim)
        for i, block in enumerate(self.blocks):
            tok = self._windowed(block, tok, shift=(self.window // 2) if i % 2 else 0)
        b, ny, nx, m, d = tok.shape
        x = tok.reshape(b, ny, nx, m * d).permute(0, 3, 1, 2)
        return FusedBEV({"fused": self.out(x)}, {"fused": _any_present(feats, present)})

    def _windowed(self, block: nn.Module, tok: torch.Tensor, shift: int) -> torch.Tensor:
        """Apply ``block`` within windows offset by ``shift`` cells; padding cells are masked out."""
        b, ny, nx, m, d = tok.shape
        w = self.window
        pad_y, pad_x = (-(ny + shift)) % w, (-(nx + shift)) % w
        x = F.pad(tok, (0, 0, 0, 0, shift, pad_x, shift, pad_y))  # pads nx then ny
        valid = F.pad(tok.new_ones(1, ny, nx, 1), (0, 0, shift, pad_x, shift, pad_y)) > 0
        hy, hx = x.shape[1] // w, x.shape[2] // w
        x = x.view(b, hy, w, hx, w, m, d).permute(0, 1, 3, 2, 4, 5, 6)  # B, hy, hx, w, w, M, dim
        x = x + self.pos_embed.view(1, 1, 1, w, w, 1, d)
        x = x.reshape(b * hy * hx, w * w * m, d)
        mask = None
        if shift or pad_x or pad_y:  # padding cells are never attended to
            win = valid.view(1, hy, w, hx, w, 1).permute(0, 1, 3, 2, 4, 5).expand(b, -1, -1, -1, -1, m)
            mask = win.reshape(b * hy * hx, w * w * m)
        x = block(x, mask)
        x = x.view(b, hy, hx, w, w, m, d).permute(0, 1, 3, 2, 4, 5, 6).reshape(b, hy * w, hx * w, m, d)
        return x[:, shift : shift + ny, shift : shift + nx]
