"""Training loop: checkpoint → resume repeats the next step exactly; checkpoints load with weights_only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from sensorfuse.engine import provenance
from sensorfuse.engine.checkpoint import latest_checkpoint, load_checkpoint
from sensorfuse.engine.config import load_config
from sensorfuse.engine.distributed import DistInfo
from sensorfuse.engine.loop import EpochSampler, fit
from sensorfuse.engine.optim import lr_factor

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def _cfg(out: Path, steps: int, ckpt_every: int = 100) -> object:
    return load_config(
        None,
        [
            f"runtime.out_dir={out}",
            f"optim.max_steps={steps}",
            f"runtime.ckpt_every={ckpt_every}",
            "runtime.batch_size=5",
            "runtime.log_every=1",
            "runtime.progress=false",
            "optim.lr=0.01",
            "optim.warmup_steps=2",
            "optim.schedule=cosine",
            "runtime.seed=3",
        ],
    )


def test_resume_gives_the_same_next_step(tmp_path: Path, toy) -> None:
    model_cls, data, collate = toy
    # uninterrupted: 7 steps (24 samples / 5 per batch = 5 steps per epoch, so it crosses an epoch), ckpt at 6
    torch.manual_seed(0)
    full = fit(model_cls(), data, collate, _cfg(tmp_path / "a", 7, ckpt_every=6), CPU)
    ck6 = tmp_path / "a" / "checkpoints" / "step_0000006.pt"
    assert ck6.is_file() and full.step == 7
    # resumed: a fresh run dir holding only the step-6 checkpoint, continued to step 7
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copy(ck6, tmp_path / "b" / "checkpoints" / "step_0000006.pt")
    torch.manual_seed(123)  # a different initial model; everything must come from the checkpoint
    resumed = fit(model_cls(), data, collate, _cfg(tmp_path / "b", 7, ckpt_every=6), CPU, resume=True)
    assert resumed.step == 7
    assert resumed.last_losses["loss"] == full.last_losses["loss"]
    starts = json.loads((tmp_path / "b" / "provenance.json").read_text())
    assert [e["from_step"] for e in starts] == [6]  # the resumed start is recorded with its step
    pa = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    pb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    # and the step-6 state is really different from step 7 (the test can fail)
    p6 = load_checkpoint(ck6)["model"]
    assert not all(torch.equal(p6[k], pa[k]) for k in pa)


def test_fit_writes_config_log_and_checkpoints(tmp_path: Path, toy) -> None:
    model_cls, data, collate = toy
    res = fit(model_cls(), data, collate, _cfg(tmp_path, 4, ckpt_every=2), CPU)
    assert (tmp_path / "config.yaml").is_file()
    assert [e["from_step"] for e in json.loads((tmp_path / "provenance.json").read_text())] == [0]
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,epoch,lr") and len(rows) == 1 + 4
    assert latest_checkpoint(tmp_path / "checkpoints") == tmp_path / "checkpoints" / "last.pt"
    ck = load_checkpoint(res.checkpoint or tmp_path / "missing")
    assert ck["step"] == 4 and ck["config"]["optim"]["max_steps"] == 4
    assert ck["provenance"]["source_sha256"] == provenance.source_digest()  # travels with the weights
    assert load_config(tmp_path / "config.yaml").optim.max_steps == 4


def test_training_reduces_the_loss(tmp_path: Path, toy) -> None:
    model_cls, data, collate = toy
    torch.manual_seed(0)
    model = model_cls()
    batch = collate(data)
    model.eval()
    before = float(model(batch)["loss"].detach())
    fit(model, data, collate, _cfg(tmp_path, 60), CPU)
    model.eval()
    assert float(model(batch)["loss"].detach()) < 0.5 * before


def test_epoch_sampler_shards_evenly() -> None:
    a = EpochSampler(7, seed=1, epoch=0, rank=0, world_size=2, batch_size=2)
    b = EpochSampler(7, seed=1, epoch=0, rank=1, world_size=2, batch_size=2)
    assert len(a) == len(b) == 4
    assert set(a.indices) | set(b.indices) == set(range(7))
    late = EpochSampler(7, seed=1, epoch=0, rank=0, world_size=2, batch_size=2, start_batch=1)
    assert late.indices == a.indices[2:]
    assert (
        EpochSampler(7, seed=1, epoch=1, rank=0, world_size=1, batch_size=2).indices
        != EpochSampler(7, seed=1, epoch=0, rank=0, world_size=1, batch_size=2).indices
    )


def test_lr_schedules_warm_up_and_decay() -> None:
    cfg = load_config(None, ["optim.schedule=cosine", "optim.warmup_steps=10"]).optim
    f = [lr_factor(s, cfg, 100) for s in range(100)]
    assert f[0] < f[5] < f[10] and abs(f[10] - 1.0) < 1e-9 and f[99] < 0.01
    one = load_config(None, ["optim.schedule=onecycle"]).optim
    g = [lr_factor(s, one, 100) for s in range(100)]
    assert max(g) == g[int(one.pct_start * 100)] and g[0] < 0.2 and g[-1] < 0.01


@pytest.mark.cuda
def test_amp_training_on_cuda(tmp_path: Path, toy) -> None:
    model_cls, data, collate = toy
    cfg = load_config(
        None,
        [
            f"runtime.out_dir={tmp_path}",
            "optim.max_steps=3",
            "runtime.device=cuda",
            "runtime.amp=true",
            "runtime.progress=false",
            "runtime.batch_size=4",
        ],
    )
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cuda:0"))
    res = fit(model_cls(), data, collate, cfg, info)
    assert res.step == 3 and torch.isfinite(torch.tensor(res.last_losses["loss"]))
    ck = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert all(v.device.type == "cpu" for v in ck["model"].values())
    resumed = fit(
        model_cls(),
        data,
        collate,
        load_config(tmp_path / "config.yaml", ["optim.max_steps=4"]),
        info,
        resume=True,
    )
    assert resumed.step == 4
