"""The official metrics do not move with the runtime: ``evaluate --runtime onnxruntime`` scores a checkpoint
as eager does (mAP and NDS to 1e-3; the boxes may differ by float round-off, `docs/deploy.md`)."""

from __future__ import annotations

import json
from pathlib import Path

from sensorfuse.cli import main


def test_evaluate_through_onnxruntime_gives_the_same_metrics(
    synth_world: tuple[Path, str], tiny_checkpoint: Path, exported: tuple[Path, dict], tmp_path: Path
) -> None:
    root, version = synth_world
    onnx_dir, _ = exported
    base = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--dataroot", str(root), "--version", version,
            "--split", "mini_val", "--no-plots", "--batch-size", "1"]  # fmt: skip
    summaries = {}
    for runtime in ("eager", "onnxruntime"):
        out = tmp_path / runtime
        assert main([*base, "--out", str(out), "--runtime", runtime, "--onnx", str(onnx_dir)]) == 0
        summaries[runtime] = json.loads((out / "metrics_summary.json").read_text())
    eager, ort = summaries["eager"], summaries["onnxruntime"]
    assert abs(eager["mean_ap"] - ort["mean_ap"]) <= 1e-3 and abs(eager["nd_score"] - ort["nd_score"]) <= 1e-3
    subs = {r: json.loads((tmp_path / r / "results_nusc.json").read_text())["results"] for r in summaries}
    assert subs["eager"].keys() == subs["onnxruntime"].keys()
    assert sum(len(b) for b in subs["eager"].values()) > 0  # boxes to compare, not two empty submissions
    for token, boxes in subs["eager"].items():
        other = subs["onnxruntime"][token]
        assert len(boxes) == len(other)
        for a, b in zip(boxes, other):
            assert a["detection_name"] == b["detection_name"]
            assert max(abs(x - y) for x, y in zip(a["translation"], b["translation"])) < 1e-3
            assert abs(a["detection_score"] - b["detection_score"]) < 1e-4
