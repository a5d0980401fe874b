"""The tiny detector of the deployment tests (a module of its own: see conftest.py)."""

from __future__ import annotations

from typing import Any

import torch

from sensorfuse.bench.latency import TINY_OVERRIDES


def tiny_config(*overrides: str) -> Any:
    from sensorfuse.engine.config import load_config

    return load_config(None, [*TINY_OVERRIDES, *overrides])


def tiny_model(cfg: Any) -> Any:
    """The tiny detector, seeded; its heatmap logits spread out (last heatmap conv x 20), so that the scores of
    its boxes are far apart compared with float rounding and a comparison of box sets is not decided by ties."""
    from sensorfuse.models.build import build_detector

    torch.manual_seed(0)
    model = build_detector(cfg.model).eval()
    with torch.no_grad():
        for head in model.head.values():
            head.heatmap[-1].weight.mul_(20.0)
    return model
