"""Drive ground truth scored by the devkit: the same metrics as the devkit's own evaluation of the same scenes.

The nuScenes scenes of a synthetic world, read as :class:`~sensorfuse.sources.base.Drive` s, give
:class:`DriveTruth`; perturbed ground truth serves as predictions. The devkit's ``DetectionEval`` on the
dataroot split and :class:`DriveDetectionEval` on the drives must agree on every metric (mAP, NDS, the TP
errors and every class's AP), so evaluating a recorded drive means what the official evaluation means.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorfuse.data.config import SampleConfig
from sensorfuse.data.keyframes import drive_keyframes
from sensorfuse.data.sample import nuscenes_drive
from sensorfuse.engine.drive_truth import DriveTruth, SampleTruth, sample_truth
from sensorfuse.engine.metrics import (
    SplitTruth,
    load_devkit,
    score_predictions,
    split_sample_tokens,
)
from sensorfuse.errors import DataError
from sensorfuse.sources.nuscenes import NuScenesIndex

SPLIT = "mini_val"  # scene-0103, scene-0916 of the synthetic world


def _predictions(nusc: Any, tokens: list[str], seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The split's ground truth, moved, re-scored, with velocities, and a fifth of it left out."""
    from nuscenes.eval.common.loaders import load_gt_of_sample_tokens
    from nuscenes.eval.detection.data_classes import DetectionBox

    rng = np.random.default_rng(seed)
    gt = load_gt_of_sample_tokens(nusc, tokens, DetectionBox, verbose=False)
    out: dict[str, list[dict[str, Any]]] = {}
    for t in tokens:
        boxes = []
        for b in gt[t]:
            if rng.random() < 0.2:
                continue
            d = json.loads(json.dumps(b.serialize(), default=lambda o: o.tolist()))
            d["translation"] = [v + float(rng.normal(0, 0.7)) for v in d["translation"]]
            d["velocity"] = [float(rng.normal(0, 2)), float(rng.normal(0, 2))]
            d["detection_score"] = float(rng.random())
            boxes.append(d)
        out[t] = boxes
    return out


@pytest.fixture(scope="module")
def truth(synth_world: tuple[Path, str]) -> DriveTruth:
    root, version = synth_world
    index, cfg = NuScenesIndex(root, version), SampleConfig()
    nusc = load_devkit(root, version)
    in_split = {nusc.get("sample", t)["scene_token"] for t in split_sample_tokens(nusc, SPLIT)}
    scenes = {s["name"] for s in nusc.scene if s["token"] in in_split}
    samples = []
    for scene in sorted(scenes):
        drive = nuscenes_drive(index, cfg, scene)
        samples += [sample_truth(drive, k) for k in drive_keyframes(drive, cfg.reference)]
    return DriveTruth(samples)


def _same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9), (path, a, b)
    else:
        assert a == b, path


def test_drive_truth_scores_like_the_devkit(
    synth_world: tuple[Path, str], truth: DriveTruth, tmp_path: Path
) -> None:
    root, version = synth_world
    nusc = load_devkit(root, version)
    tokens = split_sample_tokens(nusc, SPLIT)
    assert sorted(truth.sample_tokens()) == sorted(tokens)
    results = _predictions(nusc, tokens)
    official = score_predictions(SplitTruth(nusc, SPLIT), results, tmp_path / "devkit", render_curves=False)
    ours = score_predictions(truth, results, tmp_path / "drive", render_curves=False)
    assert 0.05 < official["mean_ap"] < 0.95  # a score that depends on the matching, not 0 or 1
    assert math.isfinite(official["tp_errors"]["vel_err"])
    keep = ("mean_ap", "nd_score", "tp_errors", "label_aps", "label_tp_errors", "mean_dist_aps", "tp_scores")
    _same({k: official[k] for k in keep}, {k: ours[k] for k in keep})
    assert "Drive(s) `scene-0103, scene-0916`" in (tmp_path / "drive" / "report.md").read_text()


def test_unknown_velocity_is_nan_as_in_the_devkit(synth_world: tuple[Path, str], truth: DriveTruth) -> None:
    """Boxes whose velocity is unknown (an instance annotated once) reach the devkit as NaN, exactly those
    its own ``load_gt`` gives NaN (they then stay out of mAVE)."""
    from nuscenes.eval.common.loaders import load_gt_of_sample_tokens
    from nuscenes.eval.detection.data_classes import DetectionBox

    nusc = load_devkit(*synth_world)
    gt = load_gt_of_sample_tokens(nusc, truth.sample_tokens(), DetectionBox, verbose=False)
    ours = truth.eval_boxes()

    def unknown(boxes: Any) -> list[tuple[str, tuple[float, ...]]]:
        return sorted(
            (t, tuple(round(v, 6) for v in b.translation))
            for t in boxes.sample_tokens
            for b in boxes[t]
            if np.isnan(b.velocity).any()
        )

    assert len(unknown(gt)) > 0
    assert unknown(ours) == unknown(gt)


def test_duplicate_sample_ids_are_refused(truth: DriveTruth) -> None:
    one = next(iter(truth.samples.values()))
    twin = SampleTruth(one.sample_id, "other.mcap", one.ego_translation, one.boxes)
    with pytest.raises(DataError, match="also a keyframe of"):
        DriveTruth([one, twin])


def test_predictions_for_other_samples_are_refused(truth: DriveTruth, tmp_path: Path) -> None:
    from nuscenes.eval.common.config import config_factory

    from sensorfuse.engine.drive_truth import DriveDetectionEval

    results = {t: [] for t in truth.sample_tokens()[1:]} | {"not-a-keyframe": []}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"meta": {"use_lidar": True}, "results": results}))
    with pytest.raises(DataError, match="not keyframes of the drives"):
        DriveDetectionEval(truth, config_factory("detection_cvpr_2019"), path, tmp_path)


def test_bad_annotation_box_is_named(synth_world: tuple[Path, str]) -> None:
    root, version = synth_world
    cfg = SampleConfig()
    drive = nuscenes_drive(NuScenesIndex(root, version), cfg, "scene-0103")
    key = drive_keyframes(drive, cfg.reference)[0]
    real = drive.ground_truth

    def broken(msg: Any) -> Any:
        gt = real(msg)
        gt.boxes[0, 3] = 0.0
        return gt

    drive.ground_truth = broken  # type: ignore[method-assign]
    with pytest.raises(DataError, match=r"annotation box 0 .* sizes > 0") as e:
        sample_truth(drive, key)
    assert key.sample_id in str(e.value)
