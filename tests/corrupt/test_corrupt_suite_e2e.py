"""``sensorfuse evaluate --corruptions`` end to end on the tiny synthetic world with an untrained checkpoint:
official devkit rows, table, heat map; a second run reuses every finished row (class: lost work on
interruption / stale results mixed in); ``sensorfuse corrupt`` writes a look-at copy of a scene."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from sensorfuse.cli import main
from sensorfuse.engine.evaluate import Evaluator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(synth_world: tuple[Path, str]) -> tuple[Path, str]:
    return synth_world


@pytest.fixture(scope="module")
def ckpt(world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained LiDAR-only model (seeded): the cheapest model to run the suite's machinery with."""
    import torch

    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.engine.config import load_config
    from sensorfuse.models import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    cfg = load_config(
        REPO / "sensorfuse/configs/synth_small.yaml",
        [f"data.dataroot={world[0]}", "data.sample.image_size=[64,176]", "model.sensors=[lidar]"],
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "ckpt.pt"
    save_checkpoint(
        path, {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": build_detector(cfg.model).state_dict()}
    )
    return path


def suite(world: tuple[Path, str], ckpt: Path, out: Path, *extra: str) -> int:
    args = ["evaluate", "--checkpoint", str(ckpt), "--dataroot", str(world[0]), "--version", world[1]]
    args += ["--split", "mini_val", "--out", str(out), "--device", "cpu", "--batch-size", "4"]
    return main([*args, "--corruptions", "lidar_beam_reduction,camera_crash", *extra])


def test_suite_writes_rows_table_heatmap_and_resumes(
    world: tuple[Path, str],
    ckpt: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "suite"
    assert suite(world, ckpt, out, "--severities", "2", "--name", "lidar-only") == 0
    rows = sorted(p.name.rsplit("-", 1)[0] for p in (out / "rows").iterdir())
    # the camera row is not evaluated: the model reads no camera (its scores are the clean ones)
    assert rows == ["clean", "lidar_beam_reduction-s2"]
    for d in (out / "rows").iterdir():
        files = {p.name for p in d.iterdir()}
        assert {
            "metrics_summary.json",
            "report.md",
            "row.json",
            "data_accounting.json",
            "results_nusc.json",
        } <= files
        rec = json.loads((d / "row.json").read_text())
        assert len(rec["fingerprint"]) == 64 and rec["seed"] == 0 and rec["data"]["split"] == "mini_val"
    table = json.loads((out / "table.json").read_text())
    by = {(r["corruption"], r["severity"]): r for r in table["rows"]}
    assert set(by) == {("lidar_beam_reduction", 2), ("camera_crash", 2)}
    assert not by[("camera_crash", 2)]["applicable"] and by[("lidar_beam_reduction", 2)]["applicable"]
    assert by[("camera_crash", 2)]["nds"] == table["clean"]["nds"]
    assert table["suite"]["corruptions"] == ["lidar_beam_reduction", "camera_crash"] and table["mce"] is None
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert "mRR" in (out / "table.md").read_text() and "mRR" in capsys.readouterr().out
    assert (out / "tables" / "lidar-only" / "table.md").read_text() == (out / "table.md").read_text()

    def no_inference(*_: Any, **__: Any) -> Any:
        raise AssertionError("a finished row was evaluated again")

    monkeypatch.setattr(Evaluator, "predict", no_inference)
    before = (out / "table.json").read_text()
    # every row reused (--allow-code-change: other sessions may edit the package between the two runs; the
    # default, same code only, is tested in tests/engine/test_robustness.py)
    # ... and the baseline's rows too: the same checkpoint has the same fingerprints, so its CE is 100%
    assert suite(world, ckpt, out, "--severities", "2", "--allow-code-change", "--baseline", str(ckpt)) == 0
    again = json.loads((out / "table.json").read_text())
    assert [{k: v for k, v in r.items() if k != "baseline_nds"} for r in again["rows"]] == json.loads(before)[
        "rows"
    ]
    assert again["ce"]["lidar_beam_reduction"] == pytest.approx(1.0) and again["mce"] == pytest.approx(1.0)
    with pytest.raises(AssertionError, match="evaluated again"):
        suite(world, ckpt, out, "--severities", "2", "--seed", "5", "--allow-code-change")  # another seed


def test_corrupt_command_writes_a_look_at_copy(world: tuple[Path, str], ckpt: Path, tmp_path: Path) -> None:
    from sensorfuse.corrupt import cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    out = tmp_path / "look"
    args = p.parse_args(
        ["--dataroot", str(world[0]), "--version", world[1], "--scene", "scene-0103", "--corruption", "camera_fog",
         "--severity", "3", "--out", str(out), "--checkpoint", str(ckpt), "--max-samples", "2"]
    )  # fmt: skip
    assert cli.run(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["corruption"] == "camera_fog" and len(summary["samples"]) == 2
    assert len(list((out / "frames").glob("*.jpg"))) == 2
    assert len(list((out / "cameras").glob("*_CAM_FRONT.jpg"))) == 2
    (out / "notes.txt").write_text("mine")
    from sensorfuse.errors import ConfigError

    with pytest.raises(ConfigError, match="not part of a `sensorfuse corrupt` output"):
        cli.run(args)


def test_replay_applies_a_corruption_live(world: tuple[Path, str], tmp_path: Path) -> None:
    """``sensorfuse replay --corrupt NAME:K``: every frame goes through the corruption (here: the cameras
    removed, which each JSONL line reports as not used); corruptions that cannot run live are refused."""
    base = [
        "replay",
        "--dataroot",
        str(world[0]),
        "--version",
        world[1],
        "--scene",
        "scene-0103",
        "--no-model",
    ]
    base += [
        "--speed",
        "0",
        "--max-frames",
        "2",
        "--no-mp4",
        "--no-rerun",
        "--no-mcap",
        "--image-size",
        "32",
        "64",
    ]
    out = tmp_path / "replay"
    assert main([*base, "--out", str(out), "--corrupt", "camera_missing:1"]) == 0
    lines = [json.loads(x) for x in (out / "detections.jsonl").read_text().splitlines() if x.strip()]
    assert len(lines) == 2
    for rec in lines:
        cams = {k: v for k, v in rec["missing"].items() if k.startswith("CAM_")}
        assert len(cams) == 6 and all(v.startswith("not used: camera_missing") for v in cams.values())
    assert main([*base, "--out", str(tmp_path / "r2"), "--corrupt", "temporal_lidar:1"]) == 2
    assert main([*base, "--out", str(tmp_path / "r3"), "--corrupt", "lidar_fog:7"]) == 2
