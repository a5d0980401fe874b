"""The evaluation path on the synthetic world: data layer GT → submission → devkit; train → evaluate CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorfuse.classes import ATTRIBUTES, DETECTION_CLASSES


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest) -> tuple[Path, str]:
    try:
        return request.getfixturevalue("synth_world")  # type: ignore[no-any-return]
    except pytest.FixtureLookupError:
        pytest.skip("the synth_world fixture (tests/conftest.py) is not available")


def test_ground_truth_through_the_data_layer_scores_ap_one(world: tuple[Path, str], tmp_path: Path) -> None:
    from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
    from sensorfuse.engine.metrics import SplitTruth, load_devkit, score_predictions
    from sensorfuse.models import to_nuscenes_detections

    root, version = world
    index = NuScenesIndex(root, version)
    cfg = SampleConfig(lidar_sweeps=1, radar_sweeps=1, image_size=(32, 64), on_missing="drop_sensor")
    results: dict[str, list[dict[str, Any]]] = {}
    for token in index.split_tokens("mini_val"):
        s = load_sample(index, token, cfg)
        assert s.gt is not None
        results[token] = to_nuscenes_detections(s.gt, s.meta)
    truth = SplitTruth(load_devkit(root, version), "mini_val")
    summary = score_predictions(truth, results, tmp_path, render_curves=False)
    with_gt = [c for c in DETECTION_CLASSES if summary["label_tp_errors"][c]["trans_err"] < 1.0]
    assert with_gt, "the val split has no evaluable ground truth"
    for c in with_gt:
        assert summary["mean_dist_aps"][c] == pytest.approx(1.0), c
        assert summary["label_tp_errors"][c]["trans_err"] == pytest.approx(0.0, abs=1e-3), c
        # size order, yaw and velocity survive global → reference frame → global (NaN where undefined)
        errs = summary["label_tp_errors"][c]
        assert errs["scale_err"] == pytest.approx(0.0, abs=1e-3), c
        for key in ("orient_err", "vel_err"):
            assert np.isnan(errs[key]) or errs[key] < 1e-2, (c, key, errs[key])
    assert summary["mean_ap"] == pytest.approx(len(with_gt) / len(DETECTION_CLASSES))


@pytest.mark.slow
def test_train_then_evaluate_cli(world: tuple[Path, str], tmp_path: Path) -> None:
    from sensorfuse.cli import main

    root, version = world
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                "sensorfuse/configs/synth_small.yaml",
                f"data.dataroot={root}",
                f"data.version={version}",
                "optim.max_steps=1",
                f"runtime.out_dir={run}",
                "runtime.workers=0",
                "runtime.progress=false",
                "data.sample.image_size=[64,176]",
            ]
        )
        == 0
    )
    ckpt = run / "checkpoints" / "last.pt"
    assert ckpt.is_file() and (run / "config.yaml").is_file()
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ckpt),
                "--dataroot",
                str(root),
                "--version",
                version,
                "--split",
                "mini_val",
                "--out",
                str(out),
                "--sensors",
                "lidar,radar",
                "--no-plots",
            ]
        )
        == 0
    )
    sub = json.loads((out / "results_nusc.json").read_text())
    from sensorfuse.data import NuScenesIndex

    assert set(sub["results"]) == set(NuScenesIndex(root, version).split_tokens("mini_val"))
    assert sub["meta"]["use_lidar"] and sub["meta"]["use_radar"] and not sub["meta"]["use_camera"]
    for token, boxes in sub["results"].items():
        for b in boxes:
            assert b["sample_token"] == token and b["detection_name"] in DETECTION_CLASSES
            assert b["attribute_name"] in ("", *ATTRIBUTES) and min(b["size"]) > 0
    summary = json.loads((out / "metrics_summary.json").read_text())
    assert 0.0 <= summary["nd_score"] <= 1.0 and (out / "report.md").is_file()


@pytest.mark.slow
def test_sharded_evaluation_matches_single_process(
    world: tuple[Path, str], tmp_path: Path, torchrun: list[str]
) -> None:
    """torchrun --nproc_per_node 2 (gloo): each rank predicts half the split; rank 0 gathers and evaluates."""
    import os
    import subprocess
    import sys

    import torch

    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.engine.config import load_config
    from sensorfuse.models import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    root, version = world
    cfg = load_config(
        "sensorfuse/configs/synth_small.yaml", [f"data.dataroot={root}", "data.sample.image_size=[64,176]"]
    )
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": model.state_dict()})
    args = [
        "evaluate",
        "--checkpoint",
        str(ckpt),
        "--dataroot",
        str(root),
        "--version",
        version,
        "--split",
        "mini_val",
        "--sensors",
        "lidar",
        "--no-plots",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "sensorfuse", *args, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        [
            *torchrun,
            "-m",
            "sensorfuse",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    r1 = json.loads((tmp_path / "one" / "results_nusc.json").read_text())["results"]
    r2 = json.loads((tmp_path / "two" / "results_nusc.json").read_text())["results"]
    assert set(r1) == set(r2)
    for t in r1:
        assert len(r1[t]) == len(r2[t]), t
        for a, b in zip(r1[t], r2[t]):
            assert a["detection_name"] == b["detection_name"]
            assert a["translation"] == pytest.approx(b["translation"], abs=1e-3)
