from __future__ import annotations

import io

import torch
from tiny import tiny_config

from sensorfuse.models import build_detector
from sensorfuse.models.config import DropoutConfig


def test_overfits_a_tiny_batch(make_batch) -> None:
    torch.manual_seed(0)
    model = build_detector(tiny_config("transformer")).train()
    batch = make_batch(b=1, seed=3, n_cam=2)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = model(batch)["loss"]
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert min(losses[-3:]) < 0.5 * losses[0], losses


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch) -> float:
    opt.zero_grad()
    loss = model(batch)["loss"]
    loss.backward()
    opt.step()
    return float(loss.detach())


def test_checkpoint_resume_gives_same_next_step(make_batch) -> None:
    cfg = tiny_config(
        "concat", dropout=DropoutConfig(lidar=0.3, radar=0.3, single_camera=0.2, radar_sweep=0.2)
    )
    batch = make_batch(b=2, seed=5, n_cam=2)
    torch.manual_seed(0)
    model = build_detector(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    _step(model, opt, batch)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": opt.state_dict()}, buf)
    expected = _step(model, opt, batch)
    expected_params = [p.detach().clone() for p in model.parameters()]

    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    torch.manual_seed(123)  # a different init: everything must come from the checkpoint
    resumed = build_detector(cfg).train()
    opt2 = torch.optim.Adam(resumed.parameters(), lr=1e-3)
    resumed.load_state_dict(state["model"])
    opt2.load_state_dict(state["optim"])
    assert _step(resumed, opt2, batch) == expected
    assert all(torch.equal(a, b) for a, b in zip(expected_params, resumed.parameters()))
