"""Optimizer and learning-rate schedule (a pure function of the step, wrapped in ``LambdaLR``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from sensorfuse.engine.config import OptimConfig


def lr_factor(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Multiplier of ``cfg.lr`` at optimizer step ``step`` (0-based) of a ``max_steps`` run."""
    total = max(1, max_steps)
    if cfg.schedule == "onecycle":
        up = max(1, int(cfg.pct_start * total))
        lo = 1.0 / cfg.div_factor
        if step < up:
            return lo + (1.0 - lo) * 0.5 * (1.0 - math.cos(math.pi * step / up))
        t = min(1.0, (step - up) / max(1, total - up))
        end = cfg.min_lr_ratio
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * t))
    if step < cfg.warmup_steps:
        return (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return 1.0
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_optimizer(
    model: nn.Module, cfg: OptimConfig, max_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no weight decay on biases and norm weights) and its LambdaLR schedule."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg, max_steps))
    return opt, sched
