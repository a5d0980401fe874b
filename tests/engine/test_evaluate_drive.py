"""``sensorfuse evaluate --drive``: recorded drives with annotations evaluated like a dataroot split.

The two mini_val scenes of a synthetic world, exported to MCAP (ROS 2 CDR) with their ground truth, evaluated
with ``--drive a.mcap b.mcap`` give the same detections and the same official metrics as ``--dataroot ...
--split mini_val``; a drive without annotations and flag mix-ups fail before any inference, with the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from sensorfuse.cli import main
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import nuscenes_drive
from sensorfuse.sources.export_mcap import export_drive
from sensorfuse.sources.nuscenes import NuScenesIndex

SCENES = ("scene-0103", "scene-0916")  # mini_val of the synthetic world


@pytest.fixture(scope="module")
def drives(synth_world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root, version = synth_world
    index, out = NuScenesIndex(root, version), tmp_path_factory.mktemp("drives")
    paths = []
    for scene in SCENES:
        path = out / f"{scene}.mcap"
        export_drive(nuscenes_drive(index, SampleConfig(), scene), path, container="mcap", progress=False)
        paths.append(path)
    return paths


def _evaluate(argv: list[str], ckpt: Path, out: Path) -> dict[str, Any]:
    assert main(["evaluate", "--checkpoint", str(ckpt), "--out", str(out), "--no-plots", *argv]) == 0
    return json.loads((out / "metrics_summary.json").read_text())


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return bool(a == b)


def test_drives_evaluate_like_the_dataroot_split(
    synth_world: tuple[Path, str], drives: list[Path], tiny_ckpt: Path, tmp_path: Path
) -> None:
    root, version = synth_world
    split = _evaluate(
        ["--dataroot", str(root), "--version", version, "--split", "mini_val"], tiny_ckpt, tmp_path / "a"
    )
    drive = _evaluate(["--drive", *map(str, drives)], tiny_ckpt, tmp_path / "b")
    res_a = json.loads((tmp_path / "a" / "results_nusc.json").read_text())
    res_b = json.loads((tmp_path / "b" / "results_nusc.json").read_text())
    assert set(res_a["results"]) == set(res_b["results"])
    assert sum(len(v) for v in res_a["results"].values()) > 0  # equal empty lists would prove nothing
    assert _close(res_a["results"], res_b["results"])
    assert res_a["meta"] == res_b["meta"]
    for key in ("mean_ap", "nd_score", "tp_errors", "label_aps"):
        assert _close(split[key], drive[key]), key
    acc = json.loads((tmp_path / "b" / "data_accounting.json").read_text())
    keyframes = {d: v["keyframes"] for d, v in acc["drives"].items()}
    assert set(keyframes) == {f"{s}.mcap" for s in SCENES}
    assert sum(keyframes.values()) == len(res_a["results"])
    assert "Drive(s) `scene-0103, scene-0916`" in (tmp_path / "b" / "report.md").read_text()


def test_drive_without_annotations_fails_before_inference(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
    from drive_fixtures import write_other_rig_bag

    bag = tmp_path / "other.mcap"
    write_other_rig_bag(bag, "mcap", frames=2)
    rig = Path(__file__).resolve().parents[2] / "calib" / "rigs" / "other_car.yaml"
    code = main(["evaluate", "--checkpoint", str(tiny_ckpt), "--drive", str(bag), "--rig", str(rig),
                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert code != 0
    assert "no annotated keyframes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--robustness"], "--robustness, --sensors and --corruptions work on a nuScenes dataroot"),
        (["--split", "val"], "leave out --dataroot/--version/--split"),
    ],
)
def test_flags_that_do_not_go_with_drive(
    drives: list[Path], tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], message: str,
) -> None:  # fmt: skip
    code = main(["evaluate", "--checkpoint", str(tiny_ckpt), "--drive", str(drives[0]), *extra,
                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert code != 0 and message in capsys.readouterr().err


def test_rig_without_drive_is_refused(
    tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", "--checkpoint", str(tiny_ckpt), "--rig", "x.yaml", "--out", str(tmp_path)])
    assert code != 0 and "--rig goes with --drive" in capsys.readouterr().err


@pytest.mark.slow
def test_drive_keyframes_are_shared_across_ranks(
    drives: list[Path], tiny_ckpt: Path, tmp_path: Path, torchrun: list[str]
) -> None:
    """torchrun --nproc_per_node 2: each rank predicts every second keyframe of the drives; rank 0 gathers,
    scores and publishes the same evaluation as one process."""
    import os
    import subprocess

    single = _evaluate(["--drive", *map(str, drives)], tiny_ckpt, tmp_path / "one")
    out = tmp_path / "two"
    cmd = [*torchrun, "-m", "sensorfuse", "evaluate", "--checkpoint", str(tiny_ckpt), "--drive",
           *map(str, drives), "--out", str(out), "--no-plots", "--device", "cpu"]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = json.loads((tmp_path / "one" / "results_nusc.json").read_text())
    b = json.loads((out / "results_nusc.json").read_text())
    assert set(a["results"]) == set(b["results"])
    assert _close(a, b)  # other batches (batch size 2) and thread counts: equal up to float round-off
    assert _close(json.loads((out / "metrics_summary.json").read_text())["nd_score"], single["nd_score"])
