"""``sensorfuse replay --runtime onnxruntime``: the same detections as eager on a recorded scene, every LiDAR
sweep, with the runtime named in the summary.

class: runtime changes the metrics (replay through ONNX Runtime showing other boxes than evaluation's eager
model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorfuse.replay.outputs import read_jsonl

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxruntime) is not installed")


def _replay(world: tuple[Path, str], ckpt: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    from sensorfuse.cli import main

    root, version = world
    scene = sorted(s["name"] for s in json.loads((root / version / "scene.json").read_text()))[0]
    rc = main(["replay", "--dataroot", str(root), "--version", version, "--scene", scene, "--out", str(out),
               "--checkpoint", str(ckpt), "--speed", "0", "--trigger", "sweep", "--max-frames", "3",
               "--min-score", "0", "--no-rerun", "--no-mp4", *extra])  # fmt: skip
    assert rc == 0
    return read_jsonl(out / "detections.jsonl")


def test_replay_through_onnxruntime_shows_eager_detections(
    synth_world: tuple[Path, str], tiny_checkpoint: Path, tmp_path: Path, capsys: Any
) -> None:
    eager = _replay(synth_world, tiny_checkpoint, tmp_path / "eager")
    ort = _replay(synth_world, tiny_checkpoint, tmp_path / "ort", "--runtime", "onnxruntime")
    assert "(runtime onnxruntime)" in capsys.readouterr().out
    assert len(eager) == len(ort) == 3
    for a, b in zip(eager, ort, strict=True):
        assert "fuser" in b["latency_ms"] and len(a["detections"]) == len(b["detections"]) > 0

        def key(d: dict[str, Any]) -> tuple[str, float, float]:
            return d["detection_name"], round(d["box"][0], 2), round(d["box"][1], 2)

        da, db = sorted(a["detections"], key=key), sorted(b["detections"], key=key)
        assert [d["detection_name"] for d in da] == [d["detection_name"] for d in db]
        np.testing.assert_allclose([d["box"] for d in da], [d["box"] for d in db], atol=1e-3)
        np.testing.assert_allclose(
            [d["detection_score"] for d in da], [d["detection_score"] for d in db], atol=2e-5
        )


def test_runtime_without_a_model_is_refused(
    synth_world: tuple[Path, str], tmp_path: Path, capsys: Any
) -> None:
    from sensorfuse.cli import main

    root, version = synth_world
    rc = main(["replay", "--dataroot", str(root), "--version", version, "--scene", "scene-0103", "--out",
               str(tmp_path), "--no-model", "--runtime", "onnxruntime"])  # fmt: skip
    assert rc == 2 and "needs a model" in capsys.readouterr().err
