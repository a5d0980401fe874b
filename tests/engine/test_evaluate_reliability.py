"""Reliability of ``sensorfuse evaluate`` (issue 24), on the tiny synthetic world and an untrained checkpoint.

- class: silent degradation — every dropped sensor is counted (log, report.md, data_accounting.json, the
  stdout summary), the submission's ``meta`` says what was really used, and too many drops fail the run;
- class: late failures — a split the devkit cannot evaluate here, an empty annotation table, an unusable
  output folder, NaN weights, missing files and an unloadable devkit fail before the first sample;
- class: outputs not a set — ``--out`` holds one complete evaluation, the previous one or the new one.

Broken worlds are views of the session's ``synth_world``: symlinks to its files, with the channels or tables
under test replaced, so that the shared world is never changed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorfuse.cli import main
from sensorfuse.data.accounting import INTENDED, MissingTally
from sensorfuse.engine import eval_preflight
from sensorfuse.engine.evaluate import Evaluator

REPO = Path(__file__).resolve().parents[2]
MAP_LINE = re.compile(r"^(\S+): mAP \d\.\d{4}  NDS \d\.\d{4}  \(report: (.+)\)$", re.M)


@pytest.fixture(scope="module")
def world(synth_world: tuple[Path, str]) -> tuple[Path, str]:
    return synth_world


@pytest.fixture(scope="module")
def tokens(world: tuple[Path, str]) -> list[str]:
    from sensorfuse.data import NuScenesIndex

    return NuScenesIndex(*world).split_tokens("mini_val")


def _checkpoint(path: Path, root: Path, poison: bool = False) -> Path:
    import torch

    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.engine.config import load_config
    from sensorfuse.models import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    cfg = load_config(
        REPO / "sensorfuse/configs/synth_small.yaml",
        [f"data.dataroot={root}", "data.sample.image_size=[64,176]"],
    )
    torch.manual_seed(0)
    state = build_detector(cfg.model).state_dict()
    if poison:
        name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
        state[name].view(-1)[0] = float("nan")
    save_checkpoint(path, {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": state})
    return path


@pytest.fixture(scope="module")
def ckpt(world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "ckpt.pt", world[0])


def view(
    world: tuple[Path, str],
    dest: Path,
    channels: dict[str, Callable[[Path, Path], None]] | None = None,
    tables: dict[str, str] | None = None,
) -> Path:
    """A copy of the world made of symlinks; ``channels[name](src_dir, dst_dir)`` fills a replaced
    ``samples/<name>`` folder and ``tables[name]`` replaces the text of ``<version>/<name>.json``."""
    root, version = world
    channels, tables = channels or {}, tables or {}
    dest.mkdir()
    for entry in root.iterdir():
        if entry.name == ".sensorfuse":  # the index cache: rebuilt for the view
            continue
        if entry.name not in ("samples", version) or not (channels if entry.name == "samples" else tables):
            (dest / entry.name).symlink_to(entry)
            continue
        (dest / entry.name).mkdir()
        replaced = channels if entry.name == "samples" else {f"{k}.json": v for k, v in tables.items()}
        for sub in entry.iterdir():
            target = dest / entry.name / sub.name
            if sub.name not in replaced:
                target.symlink_to(sub)
            elif entry.name == "samples":
                target.mkdir()
                channels[sub.name](sub, target)
            else:
                target.write_text(tables[sub.name[: -len(".json")]])
    return dest


def delete_all(src: Path, dst: Path) -> None:
    """Every file of the channel gone."""


def garbage(src: Path, dst: Path) -> None:
    """Every file of the channel present with its size, but its bytes replaced (caught only when read)."""
    for f in src.iterdir():
        (dst / f.name).write_bytes(b"\xff" * f.stat().st_size)


def evaluate(root: Path, ckpt: Path, out: Path, *extra: str) -> int:
    """``sensorfuse evaluate`` in this process (mini_val, LiDAR only, no plots, unless ``extra`` says)."""
    args = ["evaluate", "--checkpoint", str(ckpt), "--dataroot", str(root), "--version", "v1.0-mini"]
    args += ["--out", str(out), "--no-plots", "--device", "cpu", *extra]
    args += [] if "--split" in extra else ["--split", "mini_val"]
    args += [] if "--sensors" in extra else ["--sensors", "lidar"]
    return main(args)


@pytest.fixture
def no_inference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any inference fails the test: the checks must stop the run before the first sample."""

    def predict(*_: Any, **__: Any) -> Any:
        raise AssertionError("inference started before the failure was found")

    monkeypatch.setattr(Evaluator, "predict", predict)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def previous_evaluation(out: Path) -> dict[str, bytes]:
    """A complete earlier evaluation in ``out``; returns its files."""
    (out / "plots").mkdir(parents=True)
    (out / "report.md").write_text("# old report\n")
    (out / "metrics_summary.json").write_text('{"mean_ap": 0.5}')
    (out / "metrics_details.json").write_text('{"car": {}}')
    (out / "robustness.md").write_text("# old robustness\n")
    (out / "plots" / "car_pr.pdf").write_bytes(b"%PDF old")
    return snapshot(out)


def leftovers(out: Path) -> list[str]:
    """Staging or trash folders of ``out`` next to it."""
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# -- class: silent degradation ------------------------------------------------------------------------------
def test_deleted_lidar_is_counted_and_the_submission_says_it_was_not_used(
    world: tuple[Path, str], ckpt: Path, tokens: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: silent degradation — with every LiDAR file deleted and drops allowed (--max-missing 1.0), the
    run says so everywhere: use_lidar false, report.md, data_accounting.json and the stdout summary."""
    root = view(world, tmp_path / "world", channels={"LIDAR_TOP": delete_all})
    out = tmp_path / "eval"
    assert evaluate(root, ckpt, out, "--sensors", "lidar,radar", "--max-missing", "1.0") == 0
    meta = json.loads((out / "results_nusc.json").read_text())["meta"]
    assert meta["use_lidar"] is False and meta["use_radar"] is True and meta["use_camera"] is False
    n = len(tokens)
    acc = json.loads((out / "data_accounting.json").read_text())
    assert acc["frames"] == n and acc["counts"]["LIDAR_TOP"] == {"missing file": n}
    assert acc["counts"]["camera"] == {INTENDED: n}  # left out on purpose (--sensors): counted, not failed
    assert acc["used"] == ["radar"] and acc["sensors"] == ["lidar", "radar"]
    assert "LIDAR_TOP" in acc["examples"]["LIDAR_TOP"] and ".pcd.bin" in acc["examples"]["LIDAR_TOP"]
    report = (out / "report.md").read_text()
    assert "## Sensors dropped" in report and f"| LIDAR_TOP | missing file | {n} | 100.0% |" in report
    stdout = capsys.readouterr().out
    assert MAP_LINE.search(stdout), stdout  # the mAP line is unchanged
    line = f"lidar+radar: sensors used: radar; dropped in {n} samples: LIDAR_TOP {n} (missing file {n})"
    assert line in stdout, stdout


def test_sensor_dropped_while_loading_fails_the_run_over_the_limit(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: silent degradation — radar files whose bytes are garbage pass the file scan and are dropped
    while loading; losing RADAR_FRONT in every sample fails the run (default limit 5%), naming the sensor, and
    the previous evaluation stays."""
    root = view(world, tmp_path / "world", channels={"RADAR_FRONT": garbage})
    out = tmp_path / "eval"
    before = previous_evaluation(out)
    assert evaluate(root, ckpt, out, "--sensors", "lidar,radar") == 2
    err = capsys.readouterr().err
    assert "RADAR_FRONT" in err and "more than 5%" in err and "--max-missing" in err
    assert "preflight" not in err  # found while loading, not by the file scan
    assert snapshot(out) == before and leftovers(out) == []


def test_scenario_leaves_out_channels_as_intended(world: tuple[Path, str]) -> None:
    """class: silent degradation — a robustness row that leaves a radar out records it (reason 'not used'),
    and the modalities used are those present in at least one sample."""
    from sensorfuse.data import NuScenesIndex, SampleConfig
    from sensorfuse.engine.evaluate import ScenarioDataset, used_modalities
    from sensorfuse.engine.robustness import Scenario

    index = NuScenesIndex(*world)
    cfg = SampleConfig(lidar_sweeps=1, radar_sweeps=1, image_size=(32, 64), on_missing="drop_sensor")
    sc = Scenario("no_RADAR_FRONT", ("lidar", "radar"), drop_channels=("RADAR_FRONT",))
    ds = ScenarioDataset(index, index.split_tokens("mini_val")[:1], cfg, sc)
    sample = ds[0]
    assert sample.meta.missing["RADAR_FRONT"].startswith(f"{INTENDED}:")
    assert sample.cameras is None and sample.meta.missing["camera"].startswith(f"{INTENDED}:")
    tally = MissingTally()
    tally.add(sample.meta.missing)
    assert used_modalities(tally, sc.sensors, ds.cfg) == ("lidar", "radar")
    tally.add({"LIDAR_TOP": "missing file: x"})
    assert used_modalities(tally, sc.sensors, ds.cfg) == ("lidar", "radar")  # present in one sample
    gone = MissingTally()
    gone.add({"LIDAR_TOP": "missing file: x", **{r: "corrupt: y" for r in ds.cfg.radars}})
    assert used_modalities(gone, sc.sensors, ds.cfg) == ()


# -- class: late failures -----------------------------------------------------------------------------------
@pytest.mark.usefixtures("no_inference")
def test_deleted_lidar_fails_before_the_first_sample(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: late failures / silent degradation — every LiDAR file deleted fails in the file scan, naming
    the sensor, the reason and a file; nothing is written."""
    root = view(world, tmp_path / "world", channels={"LIDAR_TOP": delete_all})
    out = tmp_path / "eval"
    assert evaluate(root, ckpt, out) == 2
    err = capsys.readouterr().err
    assert "preflight file scan" in err and "LIDAR_TOP" in err and "missing file" in err, err
    assert not out.exists() and leftovers(out) == []


@pytest.mark.usefixtures("no_inference")
def test_split_not_evaluable_on_this_version_fails_before_the_first_sample(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: late failures — ``--split val`` on v1.0-mini (its scenes exist, the devkit refuses the pair)."""
    assert evaluate(world[0], ckpt, tmp_path / "eval", "--split", "val") == 2
    err = capsys.readouterr().err
    assert "'val'" in err and "trainval" in err and "mini_val" in err, err


@pytest.mark.usefixtures("no_inference")
@pytest.mark.parametrize("table", ["[]", ""], ids=["empty", "zero-size"])
def test_annotation_table_faults_fail_before_the_first_sample(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    """class: late failures — an empty or zero-size ``sample_annotation.json``."""
    root = view(world, tmp_path / "world", tables={"sample_annotation": table})
    assert evaluate(root, ckpt, tmp_path / "eval") == 2
    err = capsys.readouterr().err
    assert "sensorfuse evaluate: error:" in err and "v1.0-mini/sample_annotation.json" in err, err
    assert ("no annotations" if table == "[]" else "empty file") in err, err


@pytest.mark.usefixtures("no_inference")
@pytest.mark.parametrize("fault", ["under-a-file", "foreign-files", "disk-full"])
def test_unusable_output_folder_fails_before_the_first_sample(
    world: tuple[Path, str],
    ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    """class: late failures — ``--out`` that cannot be written, that holds other files (it would be replaced
    as a whole), or on a disk without room for the evaluation."""
    out = tmp_path / "eval"
    expected = {
        "under-a-file": "not a folder",
        "foreign-files": "not part of an evaluation",
        "disk-full": "free",
    }
    if fault == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "eval"
    elif fault == "foreign-files":
        previous_evaluation(out)
        (out / "last.pt").write_bytes(b"weights")
    else:
        usage = shutil.disk_usage(tmp_path)._replace(free=1000)
        monkeypatch.setattr(eval_preflight.shutil, "disk_usage", lambda _p: usage)
    before = snapshot(tmp_path)
    assert evaluate(world[0], ckpt, out) == 2
    err = capsys.readouterr().err
    assert "--out" in err and expected[fault] in err, err
    assert snapshot(tmp_path) == before  # nothing written, nothing removed


@pytest.mark.usefixtures("no_inference")
def test_nan_weights_fail_before_the_first_sample(
    world: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: late failures — a checkpoint holding a NaN weight (checked by load_model)."""
    bad = _checkpoint(tmp_path / "nan.pt", world[0], poison=True)
    assert evaluate(world[0], bad, tmp_path / "eval") == 2
    err = capsys.readouterr().err
    assert "nan.pt" in err and "NaN" in err, err


@pytest.mark.usefixtures("no_inference")
def test_devkit_that_cannot_load_fails_before_the_first_sample(
    world: tuple[Path, str],
    ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """class: late failures — the devkit is loaded (and its refusal reported) before inference, not after."""
    from nuscenes import nuscenes

    from sensorfuse.data import NuScenesIndex

    NuScenesIndex(*world)  # the index cache is built: only the evaluation's own devkit load is left

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("Database version not found: /nowhere/v1.0-mini")

    monkeypatch.setattr(nuscenes.NuScenes, "__init__", refuse)
    assert evaluate(world[0], ckpt, tmp_path / "eval") == 2
    err = capsys.readouterr().err
    assert "devkit cannot load" in err and "Database version not found" in err, err


def test_max_missing_option_is_checked(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: late failures — a share outside [0, 1] is refused before anything is loaded."""
    assert evaluate(world[0], ckpt, tmp_path / "eval", "--max-missing", "5") == 2
    assert "--max-missing 5.0: expected a share in [0, 1]" in capsys.readouterr().err


# -- class: outputs not a set -------------------------------------------------------------------------------
def test_failed_evaluation_leaves_the_previous_one_whole(
    world: tuple[Path, str], ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """class: outputs not a set — the disk fills up inside the devkit step after it wrote a truncated
    metrics_details.json: ``--out`` keeps the previous evaluation, byte for byte, and no staging folder."""
    from sensorfuse.engine import evaluate as evaluate_module

    def disk_full(truth: Any, results: Any, out_dir: Path, *a: Any, **k: Any) -> Any:
        Path(out_dir, "metrics_details.json").write_text('{"car": {"trans')
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir))

    monkeypatch.setattr(evaluate_module, "score_predictions", disk_full)
    out = tmp_path / "eval"
    before = previous_evaluation(out)
    with pytest.raises(OSError, match="No space left"):
        evaluate(world[0], ckpt, out)
    assert snapshot(out) == before and leftovers(out) == []


def test_finished_evaluation_replaces_the_previous_one_wholly(
    world: tuple[Path, str], ckpt: Path, tokens: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: outputs not a set — a finished run publishes one complete evaluation: no file of the previous
    one is left (its robustness table, its plots), and the report the mAP line names is the new one."""
    out = tmp_path / "eval"
    previous_evaluation(out)
    assert evaluate(world[0], ckpt, out) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "data_accounting.json",
        "metrics_details.json",
        "metrics_summary.json",
        "plots",
        "report.md",
        "results_nusc.json",
    ]
    assert list((out / "plots").iterdir()) == [] and leftovers(out) == []
    json.loads((out / "metrics_details.json").read_text())
    m = MAP_LINE.search(capsys.readouterr().out)
    assert m is not None and Path(m.group(2)) == out / "report.md"
    assert "Sensors dropped" in (out / "report.md").read_text()
    acc = json.loads((out / "data_accounting.json").read_text())
    assert acc["frames"] == len(tokens) and acc["used"] == ["lidar"]
    assert not any(r != INTENDED for per in acc["counts"].values() for r in per)
    assert np.isfinite(json.loads((out / "metrics_summary.json").read_text())["nd_score"])
    assert os.listdir(tmp_path) == ["eval"]
