"""Runtimes of the network stages: ONNX Runtime gives eager's detections within the stated tolerance; bad
runtime settings are clean errors.

classes: runtime changes the metrics (predictions through ONNX Runtime that differ from eager beyond float
rounding would move mAP/NDS), stale export (graphs exported from other weights), unusable runtime (a runtime
that cannot work here failing with a traceback deep inside torch or onnxruntime).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sensorfuse.deploy.runtime import build_runtime, parse_runtimes, wrap
from sensorfuse.engine.runner import ModelRunner
from sensorfuse.errors import ConfigError
from sensorfuse.models.fake import synthetic_sample
from sensorfuse.structures import Boxes3D, collate
from sensorfuse.utils.timing import StageTimer

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxruntime) is not installed")

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("lidar", "camera", "radar"), r)]
#: What docs/deploy.md states: fp32 graphs agree with eager to float rounding; head logits within 1e-4.
LOGIT_TOL, SCORE_TOL, BOX_TOL = 1e-4, 1e-5, 1e-4


def assert_same_detections(a: Boxes3D, b: Boxes3D) -> None:
    """The same boxes (as a set: order among equal scores may differ), scores within SCORE_TOL, box values
    (centre, size, yaw, velocity) within BOX_TOL, labels and attributes equal."""
    assert len(a) == len(b) > 0
    ka = np.lexsort((a.boxes[:, 1], a.boxes[:, 0], a.labels))
    kb = np.lexsort((b.boxes[:, 1], b.boxes[:, 0], b.labels))
    np.testing.assert_array_equal(a.labels[ka], b.labels[kb])
    np.testing.assert_array_equal(a.attributes[ka], b.attributes[kb])
    np.testing.assert_allclose(a.scores[ka], b.scores[kb], atol=SCORE_TOL, rtol=0)
    np.testing.assert_allclose(a.boxes[ka], b.boxes[kb], atol=BOX_TOL, rtol=0)


def test_onnxruntime_detections_equal_eager(
    exported: tuple[Path, dict[str, Any]], tiny: tuple[Any, Any]
) -> None:
    """class: runtime changes the metrics. Every sensor subset, samples other than the export's, batch of 2."""
    out, _ = exported
    cfg, model = tiny
    ort = wrap(model, "onnxruntime", cfg.data.sample, onnx_dir=out)
    samples = [
        synthetic_sample(cfg.data.sample, n_lidar=4000 + 1000 * i, n_radar=80, seed=20 + i) for i in range(2)
    ]
    batch = collate(samples)
    for subset in SUBSETS:
        with torch.no_grad():
            heads = model.extract(batch, subset)[0], model.extract(batch, subset, ort.runtime.hook)[0]
        for k in heads[0]:
            assert float((heads[0][k] - heads[1][k]).abs().max()) <= LOGIT_TOL, (subset, k)
        for a, b in zip(model.predict(batch, subset), ort.predict(batch, subset), strict=True):
            assert_same_detections(a, b)


def test_runner_times_the_runtime_stages(
    exported: tuple[Path, dict[str, Any]], tiny: tuple[Any, Any]
) -> None:
    """The timer wraps the runtime: every stage is timed, and the boxes are ONNX Runtime's."""
    out, _ = exported
    cfg, model = tiny
    runner = ModelRunner(model, cfg.data.sample, runtime="onnxruntime", onnx_dir=out)
    sample = synthetic_sample(cfg.data.sample, n_lidar=3000, seed=5)
    timer = StageTimer()
    with timer.frame():
        boxes = runner.predict_sample(sample, timer)
    assert set(timer.frames[0]) >= {"load", "voxelize", "lidar_encoder", "fuser", "head", "postprocess"}
    assert_same_detections(model.predict(collate([sample]))[0], boxes)
    assert runner.runtime.info["providers"] == ["CPUExecutionProvider"]
    assert runner.runtime.info["precision"] == "fp32" and runner.runtime.info["spinning"] is False


def test_export_of_other_weights_is_refused(
    exported: tuple[Path, dict[str, Any]], tiny: tuple[Any, Any]
) -> None:
    """class: stale export."""
    from deploy_tiny import tiny_model

    out, _ = exported
    cfg, _ = tiny
    other = tiny_model(cfg)
    with torch.no_grad():
        other.fuser.out[0].weight.add_(1e-3)
    with pytest.raises(
        ConfigError, match=r"manifest.json: \[weights_sha256\] the graphs were exported from other"
    ):
        build_runtime("onnxruntime", other, cfg.data.sample, onnx_dir=out)


def test_unusable_runtimes_are_clean_errors(
    tmp_path: Path, tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """class: unusable runtime."""
    import shutil

    cfg, model = tiny
    with pytest.raises(ConfigError, match="expected comma-separated names"):
        parse_runtimes("eager,tvm")
    with pytest.raises(ConfigError, match="named twice"):
        parse_runtimes("eager,eager")
    with pytest.raises(ConfigError, match=r"manifest.json: not found; export the model first"):
        build_runtime("onnxruntime", model, cfg.data.sample, onnx_dir=tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable manifest"):
        build_runtime("onnxruntime", model, cfg.data.sample, onnx_dir=tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="tensorrt: needs a CUDA device"):
            build_runtime("tensorrt", model, cfg.data.sample, onnx_dir=tmp_path.parent / "none")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler"):
        build_runtime("compile", model)


def test_on_the_fly_export_is_removed_on_close(tiny: tuple[Any, Any]) -> None:
    cfg, model = tiny
    rt = build_runtime("onnxruntime", model, cfg.data.sample)
    folder = Path(rt.info["onnx_dir"])
    assert rt.info["exported_on_the_fly"] and (folder / "manifest.json").is_file()
    rt.close()
    assert not folder.parent.exists()


@pytest.mark.slow
def test_compiled_detections_equal_eager(tiny: tuple[Any, Any]) -> None:
    """class: runtime changes the metrics (torch.compile: about a minute of compilation on 2 cores)."""
    cfg, model = tiny
    compiled = wrap(model, "compile")
    for seed, n in ((30, 3000), (31, 5000)):  # a second point count: the pillar axis recompiled as dynamic
        batch = collate([synthetic_sample(cfg.data.sample, n_lidar=n, n_radar=60, seed=seed)])
        assert_same_detections(model.predict(batch)[0], compiled.predict(batch)[0])
