"""``python -m sensorfuse.bench.eval_scale``: both halves of a full-split evaluation are measured and reported."""

from __future__ import annotations

import json
from pathlib import Path

from sensorfuse.bench.eval_scale import fake_submission, main
from sensorfuse.sources.nuscenes import NuScenesIndex


def test_fake_submission_has_the_asked_size(synth_world: tuple[Path, str]) -> None:
    index = NuScenesIndex(*synth_world)
    tokens = index.split_tokens("mini_val")
    sub = fake_submission(index, tokens, boxes=25)
    assert set(sub) == set(tokens)
    assert all(len(v) == 25 for v in sub.values())
    assert all(b["sample_token"] == t for t, v in sub.items() for b in v)
    assert fake_submission(index, tokens, boxes=25) == sub  # seeded


def test_eval_scale_reports_inference_and_devkit_stages(
    synth_world: tuple[Path, str], tiny_ckpt: Path, tmp_path: Path
) -> None:
    root, version = synth_world
    out = tmp_path / "es.json"
    argv = ["--dataroot", str(root), "--version", version, "--split", "mini_val", "--checkpoint", str(tiny_ckpt),
            "--infer-samples", "2", "--boxes", "30", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(out.read_text())
    assert r["keyframes"] == len(NuScenesIndex(root, version).split_tokens("mini_val"))
    inf = r["inference"]
    assert inf["samples"] == 2 and inf["per_sample_ms"] > 0
    assert inf["split_inference_s"]["2"] < inf["split_inference_s"]["1"]
    dk = r["devkit"]
    assert {"tables (checks + NuScenes)", "load_prediction", "load_gt", "evaluate (match, AP, TP)"} <= set(
        dk["stages_s"]
    )
    assert dk["pred_boxes_after_filter"] > 0 and 0.0 <= dk["nds"] <= 1.0
