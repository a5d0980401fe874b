"""``train`` seeds the RNGs before it builds the model: the same config gives the same initial weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import sensorfuse.data as data
from sensorfuse.engine import train as train_mod
from sensorfuse.engine.config import load_config


def test_same_config_same_initial_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(data, "NuScenesIndex", lambda *a, **k: object())
    monkeypatch.setattr(data, "FusionDataset", lambda *a, **k: [0])
    monkeypatch.setattr(train_mod, "preflight", lambda *a, **k: None)  # no files behind the fake index
    seen: list[dict[str, torch.Tensor]] = []

    def fake_fit(model: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        state = model.state_dict()
        seen.append({k: v.detach().clone() for k, v in state.items() if isinstance(v, torch.Tensor)})

    monkeypatch.setattr(train_mod, "fit", fake_fit)
    cfg = load_config("sensorfuse/configs/synth_small.yaml", [f"runtime.out_dir={tmp_path}"])
    for global_seed in (1, 2):  # whatever the process's RNG state was before
        torch.manual_seed(global_seed)
        train_mod.train(cfg)
    first, second = seen
    assert first.keys() == second.keys() and len(first) > 10
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = load_config(
        "sensorfuse/configs/synth_small.yaml", [f"runtime.out_dir={tmp_path}", "runtime.seed=5"]
    )
    train_mod.train(other)
    assert not all(torch.equal(first[k], seen[2][k]) for k in first if first[k].is_floating_point())
