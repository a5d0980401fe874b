"""Official-devkit evaluation path: GT as predictions scores AP 1.0; bad results fail with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sensorfuse.engine.metrics import (
    SplitTruth,
    check_results,
    format_table,
    load_devkit,
    score_predictions,
    split_sample_tokens,
)
from sensorfuse.errors import DataError


def gt_as_results(nusc: Any, tokens: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Ground truth of the split in the submission format (score 1)."""
    from nuscenes.eval.common.loaders import load_gt_of_sample_tokens
    from nuscenes.eval.detection.data_classes import DetectionBox

    gt = load_gt_of_sample_tokens(nusc, tokens, DetectionBox, verbose=False)
    out = {t: [{**b.serialize(), "detection_score": 1.0} for b in gt[t]] for t in tokens}
    return json.loads(json.dumps(out, default=lambda o: o.tolist()))  # numpy → lists


@pytest.fixture(scope="module")
def nusc(tiny_db: tuple[Path, str, dict[str, list[str]]]) -> Any:
    root, version, _ = tiny_db
    return load_devkit(root, version)


@pytest.mark.parametrize("split", ["mini_val", "my_split"])
def test_gt_as_predictions_gives_ap_one(nusc: Any, split: str, tmp_path: Path) -> None:
    tokens = split_sample_tokens(nusc, split)
    assert len(tokens) == (6 if split == "mini_val" else 3)
    results = gt_as_results(nusc, tokens)
    summary = score_predictions(
        SplitTruth(nusc, split), results, tmp_path, sensors=("lidar",), render_curves=split == "my_split"
    )
    assert summary["mean_dist_aps"]["car"] == pytest.approx(1.0)
    assert summary["mean_dist_aps"]["pedestrian"] == pytest.approx(1.0)
    assert summary["mean_ap"] == pytest.approx(0.2)  # 8 classes without GT count as 0 (devkit rule)
    assert summary["label_tp_errors"]["car"]["trans_err"] == pytest.approx(0.0, abs=1e-6)
    sub = json.loads((tmp_path / "results_nusc.json").read_text())
    assert set(sub["results"]) == set(tokens) and sub["meta"]["use_lidar"] and not sub["meta"]["use_camera"]
    report = (tmp_path / "report.md").read_text()
    assert "| car | 1.0000 |" in report and "NDS" in report
    assert (tmp_path / "metrics_summary.json").is_file()


@pytest.mark.slow
def test_devkit_plots_are_rendered(nusc: Any, tmp_path: Path) -> None:
    tokens = split_sample_tokens(nusc, "my_split")
    score_predictions(SplitTruth(nusc, "my_split"), gt_as_results(nusc, tokens), tmp_path, render_curves=True)
    assert (tmp_path / "plots" / "car_pr.pdf").is_file()


def test_shifted_predictions_score_lower(nusc: Any, tmp_path: Path) -> None:
    tokens = split_sample_tokens(nusc, "mini_val")
    results = gt_as_results(nusc, tokens)
    for boxes in results.values():
        for b in boxes:
            b["translation"] = [b["translation"][0] + 1.5, *b["translation"][1:]]
    summary = score_predictions(SplitTruth(nusc, "mini_val"), results, tmp_path, render_curves=False)
    assert 0.0 < summary["mean_dist_aps"]["car"] < 1.0
    table = format_table([("shifted", summary)])
    assert table.count("\n") == 3 and "shifted" in table


def test_check_results_errors(nusc: Any) -> None:
    tokens = split_sample_tokens(nusc, "mini_val")
    results = gt_as_results(nusc, tokens)
    with pytest.raises(DataError, match="have no entry"):
        check_results({t: results[t] for t in tokens[1:]}, tokens, "r.json")
    bad = {t: [dict(b) for b in v] for t, v in results.items()}
    first = next(t for t in tokens if bad[t])
    bad[first][0]["detection_name"] = "unicorn"
    with pytest.raises(DataError, match="unknown class 'unicorn'"):
        check_results(bad, tokens, "r.json")
    bad[first][0] = {**results[first][0], "size": [0.0, 1.0, 1.0]}
    with pytest.raises(DataError, match="size must be > 0"):
        check_results(bad, tokens, "r.json")


def test_no_box_at_all_scores_zero(nusc: Any, tmp_path: Path) -> None:
    """A submission without a single box (a LiDAR-only model with its LiDAR removed) is scored, not a devkit
    crash: AP 0 and NDS 0 for every class; the published submission stays empty."""
    tokens = split_sample_tokens(nusc, "mini_val")
    summary = score_predictions(
        SplitTruth(nusc, "mini_val"), {t: [] for t in tokens}, tmp_path, render_curves=False
    )
    assert summary["mean_ap"] == 0.0 and summary["nd_score"] == 0.0
    assert all(v == 0.0 for v in summary["mean_dist_aps"].values())
    sub = json.loads((tmp_path / "results_nusc.json").read_text())
    assert sum(len(v) for v in sub["results"].values()) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["results_nusc.json", "metrics_summary.json", "metrics_details.json", "plots", "report.md"]
    )
