"""Issue 24 on the ``train`` path: dropped sensors are counted and can fail a run (class: silent degradation),
bad config values and weights of another model are sentences, not tracebacks (class: tracebacks where a
sentence belongs), NaN weights fail before the work (class: late failures)."""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from sensorfuse.data.accounting import missing_entry
from sensorfuse.engine import drops
from sensorfuse.engine.checkpoint import load_checkpoint, load_weights, save_checkpoint
from sensorfuse.engine.config import load_config
from sensorfuse.engine.distributed import DistInfo
from sensorfuse.engine.loop import fit
from sensorfuse.errors import ConfigError, DataError, DataQualityError
from sensorfuse.structures import SampleMeta

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
SMALL = "sensorfuse/configs/synth_small.yaml"


# -- toy batches that carry FusionBatch-like meta -----------------------------------------------------------
class MetaBatch(dict):  # type: ignore[type-arg]
    """A toy batch (``{"x", "y"}``) with per-sample :class:`SampleMeta`, as ``FusionBatch.meta``."""

    meta: list[SampleMeta]


def meta_data(toy_data: list[dict[str, torch.Tensor]], every: int = 4) -> list[dict[str, Any]]:
    """The toy items; every ``every``-th one lost its LiDAR to a truncated file."""
    return [
        {
            **d,
            "missing": {"LIDAR_TOP": missing_entry("truncated", f"f{i}.bin: 7 bytes")}
            if i % every == 0
            else {},
        }
        for i, d in enumerate(toy_data)
    ]


def meta_collate(items: list[dict[str, Any]]) -> MetaBatch:
    batch = MetaBatch({k: torch.stack([it[k] for it in items]) for k in ("x", "y")})
    batch.meta = [
        SampleMeta(f"t{i}", "scene", 0, np.eye(4), np.eye(4), missing=it["missing"])
        for i, it in enumerate(items)
    ]
    return batch


def _cfg(out: Path, steps: int, *extra: str) -> Any:
    return load_config(
        None,
        [
            f"runtime.out_dir={out}",
            f"optim.max_steps={steps}",
            "runtime.batch_size=6",  # 24 samples: 4 steps per epoch
            "runtime.log_every=1",
            "runtime.ckpt_every=4",
            "runtime.progress=false",
            "optim.lr=0.01",
            *extra,
        ],
    )


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())  # type: ignore[no-any-return]


def _dropped_column(out: Path) -> list[int]:
    with (out / "log.csv").open() as f:
        return [int(float(r["dropped"])) for r in csv.DictReader(f)]


def test_dropped_sensors_are_counted_logged_and_summarised(tmp_path: Path, toy, caplog) -> None:
    """Class: silent degradation — a run that drops sensors says so: log warning, log.csv, summary.json."""
    model_cls, data, _ = toy
    caplog.set_level(logging.WARNING, logger="sensorfuse.engine.loop")
    res = fit(
        model_cls(), meta_data(data), meta_collate, _cfg(tmp_path, 8, "data.max_missing_fraction=1.0"), CPU
    )
    assert res.step == 8
    s = _summary(tmp_path)
    # two full epochs of 24 samples, 6 of which lost their LiDAR
    assert s["status"] == "finished" and s["step"] == 8 and s["losses"]["loss"] == res.last_losses["loss"]
    assert s["dropped"]["frames"] == 48 and s["dropped"]["counts"] == {"LIDAR_TOP": {"truncated": 12}}
    assert re.fullmatch(r"truncated: f\d+\.bin: 7 bytes", s["dropped"]["examples"]["LIDAR_TOP"])
    col = _dropped_column(tmp_path)
    assert len(col) == 8 and col == sorted(col) and col[-1] == 12
    assert any(
        r.levelno == logging.WARNING and "LIDAR_TOP 12 (truncated 12)" in r.message for r in caplog.records
    )


def test_too_many_drops_fail_the_run_after_enough_samples(tmp_path: Path, toy) -> None:
    """Class: silent degradation — more than data.max_missing_fraction of a sensor lost fails the run, from
    MIN_CHECK_SAMPLES samples on (not on the first unlucky batch), and summary.json says why."""
    model_cls, data, _ = toy
    assert drops.MIN_CHECK_SAMPLES == 20
    cfg = _cfg(tmp_path, 8, "data.max_missing_fraction=0.2")  # 25% of LiDAR frames are lost
    with pytest.raises(
        DataQualityError, match=r"(?s)step 4.*LIDAR_TOP: 6 of 24 samples \(25.0%\).*truncated 6"
    ):
        fit(model_cls(), meta_data(data), meta_collate, cfg, CPU)
    assert len(_dropped_column(tmp_path)) == 3  # steps 1-3 (18 samples) ran unchecked
    s = _summary(tmp_path)
    assert s["status"] == "failed" and "LIDAR_TOP" in s["error"] and s["step"] == 4


def test_drops_of_a_sensor_the_model_does_not_use_are_counted_but_do_not_fail(tmp_path: Path, toy) -> None:
    """Class: silent degradation — only the model's sensors are held to the limit; the rest is reported."""
    model_cls, data, _ = toy
    cfg = _cfg(tmp_path, 8, "data.max_missing_fraction=0.2", "model.sensors=[camera]")
    fit(model_cls(), meta_data(data), meta_collate, cfg, CPU)
    assert _summary(tmp_path)["dropped"]["counts"]["LIDAR_TOP"]["truncated"] == 12


def test_the_count_spans_resumes_and_old_checkpoints_start_from_zero(tmp_path: Path, toy) -> None:
    """Class: silent degradation — the drop count is stored in the checkpoint and continues on --resume."""
    model_cls, data, _ = toy
    items = meta_data(data)
    fit(model_cls(), items, meta_collate, _cfg(tmp_path / "a", 4, "data.max_missing_fraction=1.0"), CPU)
    assert _summary(tmp_path / "a")["dropped"]["frames"] == 24
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "a", old)
    fit(
        model_cls(),
        items,
        meta_collate,
        _cfg(tmp_path / "a", 8, "data.max_missing_fraction=1.0"),
        CPU,
        resume=True,
    )
    s = _summary(tmp_path / "a")
    assert s["dropped"]["frames"] == 48 and s["dropped"]["counts"]["LIDAR_TOP"]["truncated"] == 12
    assert [st["from_step"] for st in s["starts"]] == [0, 4]
    assert _dropped_column(tmp_path / "a")[-1] == 12
    # a checkpoint from before drops were counted
    ck_path = old / "checkpoints" / "last.pt"
    ck = load_checkpoint(ck_path)
    del ck["dropped"], ck["starts"]
    save_checkpoint(ck_path, ck)
    fit(model_cls(), items, meta_collate, _cfg(old, 8, "data.max_missing_fraction=1.0"), CPU, resume=True)
    assert _summary(old)["dropped"]["frames"] == 24


def test_ranks_counts_are_merged(tmp_path: Path, toy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Class: silent degradation — under DDP every rank's drops count (here a fake second rank that saw the
    same batches), in log.csv, summary.json and the limit check."""
    model_cls, data, _ = toy
    monkeypatch.setattr(drops, "all_gather_objects", lambda obj, info: [obj, obj])
    fit(model_cls(), meta_data(data), meta_collate, _cfg(tmp_path, 4, "data.max_missing_fraction=1.0"), CPU)
    s = _summary(tmp_path)
    assert s["dropped"]["frames"] == 48 and s["dropped"]["counts"]["LIDAR_TOP"]["truncated"] == 12
    assert _dropped_column(tmp_path)[-1] == 12


DDP_WORKER = """
import sys
from pathlib import Path
import numpy as np, torch
from sensorfuse.data.accounting import missing_entry
from sensorfuse.engine.config import load_config
from sensorfuse.engine.distributed import cleanup_distributed, setup_distributed
from sensorfuse.engine.loop import fit
from sensorfuse.structures import SampleMeta

class B(dict):
    pass

def collate(items):
    b = B(x=torch.stack([x for x, _ in items]))
    b.meta = [SampleMeta("t", "s", 0, np.eye(4), np.eye(4), missing=m) for _, m in items]
    return b

class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
    def forward(self, batch):
        return {"loss": (self.lin(batch["x"]) ** 2).mean()}

out = Path(sys.argv[1])
cfg = load_config(None, [f"runtime.out_dir={out}", "optim.max_steps=4", "runtime.batch_size=2",
                         "runtime.device=cpu", "runtime.progress=false", "runtime.log_every=3",
                         "data.max_missing_fraction=1.0"])
info = setup_distributed("cpu")
torch.manual_seed(0)
x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
data = [(x[i], {"LIDAR_TOP": missing_entry("missing file", f"f{i}")} if i % 4 == 0 else {}) for i in range(16)]
fit(Toy(), data, collate, cfg, info)
cleanup_distributed()
"""


@pytest.mark.slow
def test_ddp_ranks_drops_are_merged(tmp_path: Path, torchrun: list[str]) -> None:
    """Class: silent degradation — two torchrun ranks, each seeing half of the 16 samples: rank 0's
    summary.json counts both halves (4 steps x 2 ranks x 2 samples = one epoch, 4 LiDAR drops)."""
    worker = tmp_path / "worker.py"
    worker.write_text(DDP_WORKER)
    proc = subprocess.run(
        [*torchrun, str(worker), str(tmp_path / "run")], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = _summary(tmp_path / "run")
    assert s["dropped"]["frames"] == 16 and s["dropped"]["counts"] == {"LIDAR_TOP": {"missing file": 4}}


# -- the real `train` path on the synthetic world ------------------------------------------------------------
@pytest.fixture
def world_copy(synth_world: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, version = synth_world
    dst = tmp_path / "world"
    shutil.copytree(root, dst)
    return dst, version


def _train_args(root: Path, version: str, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--config",
        SMALL,
        f"data.dataroot={root}",
        f"data.version={version}",
        f"runtime.out_dir={out}",
        "runtime.workers=0",
        "runtime.progress=false",
        "runtime.log_every=1",
        "model.sensors=[lidar,radar]",  # (no camera: a faster run)
        "data.sample.cameras=[]",
        "data.sample.lidar_sweeps=1",
        "data.sample.radar_sweeps=1",
        *extra,
    ]


def test_train_fails_fast_when_every_lidar_file_is_gone(
    world_copy: tuple[Path, str], tmp_path: Path, capsys
) -> None:
    """Class: silent degradation — every LiDAR file deleted: ``train`` stops in the preflight scan, before a
    model is built or a step taken, naming LIDAR_TOP (it used to train on radar alone without a word)."""
    from sensorfuse.cli import main

    root, version = world_copy
    shutil.rmtree(root / "samples" / "LIDAR_TOP")
    out = tmp_path / "run"
    assert main(_train_args(root, version, out, "optim.max_steps=2")) == 2
    err = capsys.readouterr().err
    assert (
        "preflight file scan" in err and "LIDAR_TOP: 6 of 6 samples (100.0%)" in err and "missing file" in err
    )
    assert "Traceback" not in err and not (out / "checkpoints").exists()
    from sensorfuse.engine.train import train

    with pytest.raises(DataQualityError, match="LIDAR_TOP"):
        train(load_config(SMALL, _train_args(root, version, out, "optim.max_steps=2")[3:]))


def test_train_with_a_few_broken_files_completes_and_says_what_it_dropped(
    world_copy: tuple[Path, str], tmp_path: Path
) -> None:
    """Class: silent degradation — under the limit the run completes, and summary.json / log.csv name every
    dropped sensor with its reason (a truncated LiDAR file found by the scan, a corrupt radar file found
    when loading)."""
    from sensorfuse.cli import main
    from sensorfuse.data import NuScenesIndex

    root, version = world_copy
    index = NuScenesIndex(root, version)
    tokens = index.split_tokens("mini_train")
    assert len(tokens) == 6
    lidar = index.path(index.sample(tokens[0])["data"]["LIDAR_TOP"])
    lidar.write_bytes(lidar.read_bytes()[:-7])
    index.path(index.sample(tokens[1])["data"]["RADAR_FRONT"]).write_bytes(b"not a pcd")
    out = tmp_path / "run"
    # one step of batch 6 = one epoch: every sample seen once; 1 of 6 (16.7%) per sensor is under 20%
    args = _train_args(
        root, version, out, "optim.max_steps=1", "runtime.batch_size=6", "data.max_missing_fraction=0.2"
    )
    assert main(args) == 0
    s = _summary(out)
    assert s["status"] == "finished" and s["step"] == 1
    assert s["preflight"]["counts"] == {"LIDAR_TOP": {"truncated": 1}}
    assert s["dropped"]["frames"] == 6
    assert s["dropped"]["counts"] == {"LIDAR_TOP": {"truncated": 1}, "RADAR_FRONT": {"corrupt": 1}}
    assert str(lidar) in s["dropped"]["examples"]["LIDAR_TOP"]
    assert _dropped_column(out)[-1] == 2


# -- config values -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("runtime.ckpt_every=0", "runtime.ckpt_every=0: expected an integer >= 1"),
        ("runtime.log_every=0", "runtime.log_every=0: expected an integer >= 1"),
        ("runtime.batch_size=0", "runtime.batch_size=0: expected an integer >= 1"),
        ("runtime.workers=-1", "runtime.workers=-1: expected an integer >= 0"),
        ("runtime.keep_checkpoints=-2", "runtime.keep_checkpoints=-2: expected an integer >= 0"),
        ("optim.lr=nan", "optim.lr=nan: expected a finite number > 0"),
        ("optim.lr=.inf", "optim.lr=inf: expected a finite number > 0"),
        ("optim.lr=0", "optim.lr=0.0: expected a finite number > 0"),
        ("optim.lr=-1e-3", "optim.lr=-0.001: expected a finite number > 0"),
        ("optim.weight_decay=nan", "optim.weight_decay=nan: expected a finite number >= 0"),
        ("optim.weight_decay=-0.1", "optim.weight_decay=-0.1: expected"),
        ("optim.grad_clip=-1", "optim.grad_clip=-1.0: expected a finite number >= 0"),
        ("optim.grad_clip=.inf", "optim.grad_clip=inf: expected"),
        ("optim.betas=[0.9,1.0]", r"optim.betas\[1\]=1.0: expected a number in \[0, 1\)"),
        ("optim.betas=[-0.1,0.9]", r"optim.betas\[0\]=-0.1: expected"),
        ("optim.warmup_steps=-5", "optim.warmup_steps=-5: expected an integer >= 0"),
        ("optim.pct_start=1.5", r"optim.pct_start=1.5: expected a share in \[0, 1\]"),
        ("optim.max_steps=0", "optim.max_steps=0: expected an integer >= 1"),
        ("optim.epochs=-1", "optim.epochs=-1: expected an integer >= 0"),
        ("optim.div_factor=0", "optim.div_factor=0.0: expected a finite number >= 1"),
        ("optim.min_lr_ratio=2", r"optim.min_lr_ratio=2.0: expected a share of lr in \[0, 1\]"),
        ("data.max_missing_fraction=1.5", r"data.max_missing_fraction=1.5: expected a share in \[0, 1\]"),
        ("data.max_missing_fraction=nan", "data.max_missing_fraction=nan: expected"),
    ],
)
def test_bad_config_values_are_named_when_the_config_is_loaded(override: str, needle: str) -> None:
    """Class: tracebacks where a sentence belongs — the key, the value and what is expected."""
    with pytest.raises(ConfigError, match=needle):
        load_config(SMALL, [override])


def test_bad_config_values_in_a_yaml_file(tmp_path: Path) -> None:
    """Class: tracebacks where a sentence belongs — the same check for values read from a file."""
    path = tmp_path / "c.yaml"
    path.write_text("runtime:\n  ckpt_every: 0\n")
    with pytest.raises(ConfigError, match=r"runtime\.ckpt_every=0"):
        load_config(path)
    path.write_text("optim:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match=r"optim\.lr=nan"):
        load_config(path)
    assert (
        load_config(None, ["optim.epochs=3", "optim.max_steps=0"]).optim.epochs == 3
    )  # epochs set the length


def test_train_cli_refuses_a_bad_value_before_touching_data(tmp_path: Path, capsys) -> None:
    """Class: tracebacks where a sentence belongs — ``train`` exits 2 with the sentence; the (absent) data
    is never read, so the message is about the value, not the dataroot."""
    from sensorfuse.cli import main

    rc = main(["train", "--config", SMALL, f"data.dataroot={tmp_path / 'none'}", "runtime.log_every=0"])
    err = capsys.readouterr().err
    assert rc == 2 and "runtime.log_every=0: expected an integer >= 1" in err and "Traceback" not in err


# -- weights of another architecture / NaN weights ----------------------------------------------------------
def test_load_weights_names_missing_unexpected_and_shape_mismatches() -> None:
    """Class: tracebacks where a sentence belongs — not torch's long RuntimeError."""
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Linear(1, 1))
    state = other.state_dict()
    del state["0.bias"]
    with pytest.raises(DataError) as e:
        load_weights(model, state, "x.pt")
    msg = str(e.value)
    assert e.value.field == "model" and msg.startswith("x.pt [model]:")
    assert "1 missing keys e.g. 0.bias" in msg and "2 unexpected e.g. 3.weight, 3.bias" in msg
    assert "2 shape mismatches e.g. 0.weight ((8, 4) in the checkpoint vs (16, 4) in the model)" in msg
    assert "trained with another model config" in msg
    before = [p.clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing was copied


def test_load_weights_refuses_nan_weights_naming_the_tensor() -> None:
    """Class: late failures — NaN weights fail before the work, as 'corrupt', naming the first bad tensor."""
    model = nn.Sequential(nn.Linear(4, 2))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["0.bias"][1] = float("nan")
    with pytest.raises(DataError, match=r"weight tensor 0.bias holds 1 NaN/inf value\(s\) of 2") as e:
        load_weights(model, state, "x.pt")
    assert e.value.reason == "corrupt"
    load_weights(model, {k: v.nan_to_num() for k, v in state.items()}, "x.pt")  # finite: loads
    assert torch.equal(model[0].bias, state["0.bias"].nan_to_num())


def _detector_checkpoint(path: Path, kind_in_config: str, kind_of_weights: str) -> None:
    from sensorfuse.models import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    cfg = load_config(SMALL, [f"model.fuser.kind={kind_in_config}"])
    weights = build_detector(load_config(SMALL, [f"model.fuser.kind={kind_of_weights}"]).model).state_dict()
    save_checkpoint(path, {"step": 1, "config": to_dict(cfg), "model": weights})


def test_evaluate_load_model_refuses_weights_of_another_fuser(tmp_path: Path) -> None:
    """Class: tracebacks where a sentence belongs — a checkpoint whose weights are another fuser's."""
    from sensorfuse.engine.evaluate import load_model

    path = tmp_path / "c.pt"
    _detector_checkpoint(path, "transformer", "concat")
    with pytest.raises(DataError, match=r"(?s)c.pt \[model\]: the weights do not fit.*another model config"):
        load_model(path, torch.device("cpu"))
    _detector_checkpoint(path, "concat", "concat")
    model, cfg = load_model(path, torch.device("cpu"))
    assert cfg.model.fuser.kind == "concat" and not model.training


def test_evaluate_load_model_refuses_nan_weights(tmp_path: Path) -> None:
    """Class: late failures — NaN weights are named when the model is loaded, before any inference."""
    from sensorfuse.engine.evaluate import load_model

    path = tmp_path / "c.pt"
    _detector_checkpoint(path, "concat", "concat")
    ck = load_checkpoint(path)
    first = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][first].view(-1)[0] = float("nan")
    save_checkpoint(path, ck)
    with pytest.raises(DataError, match=f"weight tensor {first} holds 1 NaN") as e:
        load_model(path, torch.device("cpu"))
    assert e.value.reason == "corrupt"


def test_resume_with_weights_that_do_not_fit_is_a_data_error(tmp_path: Path, toy) -> None:
    """Class: tracebacks where a sentence belongs — Trainer.load_state checks the weights like evaluate."""
    model_cls, data, collate = toy
    cfg = _cfg(tmp_path, 4)
    fit(model_cls(), data, collate, cfg, CPU)
    ck_path = tmp_path / "checkpoints" / "last.pt"
    ck = load_checkpoint(ck_path)
    ck["model"]["net.0.weight"] = torch.zeros(3, 3)
    save_checkpoint(ck_path, ck)
    with pytest.raises(DataError, match=r"1 shape mismatches e.g. net.0.weight \(\(3, 3\) in the checkpoint"):
        fit(model_cls(), data, collate, _cfg(tmp_path, 8), CPU, resume=True)
