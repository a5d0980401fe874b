"""Class: resume that lies — ``--resume`` refuses settings the checkpoint fixes (each named old → new) and
applies and records the others; ``config.yaml`` holds what was really used, ``summary.json`` each start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sensorfuse.engine.checkpoint import load_checkpoint
from sensorfuse.engine.config import RESUME_MAY_CHANGE, load_config, resume_changes
from sensorfuse.engine.distributed import DistInfo
from sensorfuse.engine.loop import Trainer, fit
from sensorfuse.engine.optim import lr_factor
from sensorfuse.errors import ConfigError
from sensorfuse.utils.dataclass_io import to_dict

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
BASE = [
    "runtime.batch_size=6",
    "runtime.log_every=1",
    "runtime.ckpt_every=4",
    "runtime.progress=false",
    "optim.lr=0.01",
    "optim.schedule=cosine",
    "optim.warmup_steps=1",
]


def _cfg(out: Path, steps: int, *extra: str) -> Any:
    return load_config(None, [*BASE, f"runtime.out_dir={out}", f"optim.max_steps={steps}", *extra])


@pytest.fixture
def run4(tmp_path: Path, toy) -> Path:
    """A finished 4-step toy run (checkpoint at step 4)."""
    model_cls, data, collate = toy
    fit(model_cls(), data, collate, _cfg(tmp_path, 4), CPU)
    return tmp_path


def test_changed_learning_rate_is_refused_and_nothing_is_recorded(run4: Path, toy) -> None:
    """Class: resume that lies — the new lr used to go into config.yaml while the restored schedule kept the old."""
    model_cls, data, collate = toy
    before = (run4 / "config.yaml").read_text()
    with pytest.raises(ConfigError) as e:
        fit(model_cls(), data, collate, _cfg(run4, 8, "optim.lr=0.02"), CPU, resume=True)
    msg = str(e.value)
    assert "optim.lr: 0.01 → 0.02" in msg and "another runtime.out_dir" in msg and "last.pt" in msg
    assert (run4 / "config.yaml").read_text() == before  # the records still say what was used
    assert len(json.loads((run4 / "provenance.json").read_text())) == 1


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("model.fuser.kind=concat", "model.fuser.kind: 'transformer' → 'concat'"),
        ("runtime.batch_size=4", "runtime.batch_size: 6 → 4"),
        ("runtime.seed=9", "runtime.seed: 0 → 9"),
        ("optim.schedule=onecycle", "optim.schedule: 'cosine' → 'onecycle'"),
        ("data.sample.lidar_sweeps=3", "data.sample.lidar_sweeps: 10 → 3"),
        ("data.train_split=all", "data.train_split: 'mini_train' → 'all'"),
    ],
)
def test_settings_the_checkpoint_fixes_are_refused(run4: Path, toy, override: str, line: str) -> None:
    """Class: resume that lies — another fuser kind, batch size, seed, schedule, sample settings: a named
    ConfigError, never a state_dict traceback or a silently mixed run."""
    model_cls, data, collate = toy
    with pytest.raises(ConfigError, match="the checkpoint was trained with other settings") as e:
        fit(model_cls(), data, collate, _cfg(run4, 4, override), CPU, resume=True)
    assert line in str(e.value)


def test_every_changed_fixed_key_is_listed(run4: Path) -> None:
    """Class: resume that lies — all differences at once, not only the first."""
    saved = load_checkpoint(run4 / "checkpoints" / "last.pt")["config"]
    with pytest.raises(ConfigError) as e:
        resume_changes(
            saved, _cfg(run4, 4, "optim.lr=0.02", "optim.betas=[0.8,0.9]", "runtime.seed=1"), "c.pt"
        )
    msg = str(e.value)
    assert "optim.lr: 0.01 → 0.02" in msg and "optim.betas: [0.9, 0.99] → [0.8, 0.9]" in msg
    assert "runtime.seed: 0 → 1" in msg


def test_safe_settings_are_applied_and_recorded(run4: Path, toy) -> None:
    """Class: resume that lies — settings that may change are used, and config.yaml and summary.json say so."""
    model_cls, data, collate = toy
    cfg = _cfg(run4, 8, "runtime.log_every=2", "runtime.keep_checkpoints=5", "runtime.workers=0")
    res = fit(model_cls(), data, collate, cfg, CPU, resume=True)
    assert res.step == 8
    saved = load_config(run4 / "config.yaml")
    assert saved == cfg and saved.runtime.log_every == 2 and saved.runtime.keep_checkpoints == 5
    steps = [int(r.split(",")[0]) for r in (run4 / "log.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 6, 8]  # log_every=1 before the resume, 2 after
    starts = json.loads((run4 / "summary.json").read_text())["starts"]
    assert starts[0] == {"from_step": 0, "changed": {}}
    assert starts[1]["from_step"] == 4
    assert starts[1]["changed"] == {
        "optim.max_steps": [4, 8],
        "runtime.keep_checkpoints": [2, 5],
        "runtime.log_every": [1, 2],
    }
    assert [e["from_step"] for e in json.loads((run4 / "provenance.json").read_text())] == [0, 4]
    assert load_checkpoint(run4 / "checkpoints" / "last.pt")["starts"] == starts


def test_an_extended_run_follows_the_new_schedule(run4: Path, toy) -> None:
    """Class: resume that lies — a longer optim.max_steps really changes the schedule from the resumed
    step on (the restored optimizer would otherwise run the old one for a step)."""
    model_cls, _, _ = toy
    new = _cfg(run4, 40)
    trainer = Trainer(model_cls(), new, CPU, n_train=24)
    trainer.load_state(load_checkpoint(run4 / "checkpoints" / "last.pt"), "last.pt")
    lr = trainer.optimizer.param_groups[0]["lr"]
    assert lr == pytest.approx(0.01 * lr_factor(4, new.optim, 40))
    assert lr != pytest.approx(
        0.01 * lr_factor(4, new.optim, 4)
    )  # the old length's value (the test can fail)
    trainer.train_step({"x": torch.randn(6, 4), "y": torch.randn(6)})
    assert trainer.scheduler.get_last_lr()[0] == pytest.approx(0.01 * lr_factor(5, new.optim, 40))


def test_a_shorter_run_than_the_checkpoint_is_refused(run4: Path, toy) -> None:
    """Class: resume that lies — max_steps below the checkpoint's step would report a step it never ends at."""
    model_cls, data, collate = toy
    with pytest.raises(ConfigError, match=r"optim.max_steps: the run would end at step 2 but .* step 4"):
        fit(model_cls(), data, collate, _cfg(run4, 2), CPU, resume=True)


def test_resuming_a_finished_run_does_nothing_and_names_its_checkpoint(run4: Path, toy) -> None:
    model_cls, data, collate = toy
    before = load_checkpoint(run4 / "checkpoints" / "last.pt")["model"]
    res = fit(model_cls(), data, collate, _cfg(run4, 4), CPU, resume=True)
    assert res.step == 4 and res.checkpoint == run4 / "checkpoints" / "last.pt"
    after = load_checkpoint(run4 / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_an_old_checkpoint_config_without_new_keys_resumes(run4: Path) -> None:
    """Keys added to the config since a checkpoint was written take their defaults (no spurious change)."""
    saved = load_checkpoint(run4 / "checkpoints" / "last.pt")["config"]
    del saved["data"]["max_missing_fraction"]
    assert resume_changes(saved, _cfg(run4, 4), "c.pt") == {}


def test_the_rule_lists_only_execution_settings() -> None:
    """The keys that may change are where/how the run executes, its length and its fault policy."""
    assert not [k for k in RESUME_MAY_CHANGE if k.startswith("model.")]
    assert {k for k in RESUME_MAY_CHANGE if k.startswith("optim.")} == {"optim.max_steps", "optim.epochs"}
    assert "runtime.batch_size" not in RESUME_MAY_CHANGE and "runtime.seed" not in RESUME_MAY_CHANGE
    flat = to_dict(load_config(None))
    for key in RESUME_MAY_CHANGE:  # every listed key exists (a rename would silently widen nothing)
        node: Any = flat
        for part in key.split("."):
            node = node[part]
