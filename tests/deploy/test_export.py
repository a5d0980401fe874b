"""Per-stage ONNX export: one graph per network stage, each checked against PyTorch when written, published
as a whole set.

classes: export drifts from PyTorch (a graph computing something else than the module it came from),
shape baked into a graph (the pillar count or batch size of the example frozen into the export),
partial output (a failed export leaving some graphs behind), stale export (graphs of other weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sensorfuse.deploy.export import ATOL, RTOL, ExportCheckError, export_onnx, synthetic_batches
from sensorfuse.deploy.graphs import TorchGraphs, graphs, stage_functions
from sensorfuse.engine.runner import synthetic_sample
from sensorfuse.errors import ConfigError
from sensorfuse.models.stages import Override
from sensorfuse.structures import collate

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxruntime) is not installed")

GRAPHS = {
    "lidar_encoder",
    "radar_encoder",
    "camera_backbone",
    "camera_depth",
    "camera_bev",
    "fuser",
    "head.fused",
}


def test_every_graph_is_written_and_checked(exported: tuple[Path, dict[str, Any]]) -> None:
    """class: export drifts from PyTorch."""
    import onnx

    out, manifest = exported
    assert set(manifest["graphs"]) == GRAPHS
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    assert manifest["opset"] == 17 and manifest["precision"] == "fp32"
    assert {"torch", "onnx", "onnxruntime"} <= set(manifest["versions"])
    for name, g in manifest["graphs"].items():
        onnx.checker.check_model(str(out / g["file"]))
        assert g["checked_calls"] == 3  # the batch of two and each sample alone
        for o, err in g["max_abs_error"].items():
            assert 0.0 <= err <= ATOL + RTOL * g["max_abs_torch"][o], (name, o)
    lidar = {i["name"]: i["shape"] for i in manifest["graphs"]["lidar_encoder"]["inputs"]}
    assert lidar["voxels"][0] == "pillars" and lidar["present"] == ["batch"]
    assert all(v < 1e-3 for v in manifest["end_to_end"].values()), manifest["end_to_end"]


def test_graphs_take_other_pillar_counts_and_batch_sizes(
    exported: tuple[Path, dict[str, Any]], tiny: tuple[Any, Any]
) -> None:
    """class: shape baked into a graph. A batch of three with other point counts than the export's samples."""
    import onnxruntime

    out, _ = exported
    cfg, model = tiny
    batch = collate(
        [synthetic_sample(cfg.data.sample, n_lidar=n, n_radar=30, seed=9 + n) for n in (900, 5000, 12000)]
    )
    rec = TorchGraphs(graphs(model), record=True)
    with torch.inference_mode():
        model.extract(batch, stages=Override(stage_functions(model, rec)))
    for name, calls in rec.recorded.items():
        spec, module = rec.modules[name]
        session = onnxruntime.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        inputs = calls[0]
        got = session.run(None, {k: inputs[k].numpy() for k in spec.inputs})
        with torch.inference_mode():
            ref = module(*(inputs[k] for k in spec.inputs))
        for g, r in zip(got, ref if isinstance(ref, tuple) else (ref,), strict=True):
            assert g.shape == tuple(r.shape) and g.shape[0] == (18 if name == "camera_backbone" else 3), name
            np.testing.assert_allclose(g.astype(np.float64), r.double().numpy(), atol=1e-4, err_msg=name)


def test_a_failed_check_writes_nothing(
    tmp_path: Path, tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """class: partial output. A check that cannot pass: no folder, no graph, no manifest."""
    import sensorfuse.deploy.export as export

    cfg, model = tiny
    monkeypatch.setattr(export, "ATOL", -1.0)
    out = tmp_path / "graphs"
    with pytest.raises(ExportCheckError, match="differs from PyTorch"):
        export_onnx(model, synthetic_batches(cfg.data.sample, 1), out, source="synthetic")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_samples_without_a_sensor_are_refused(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    cfg, model = tiny
    batch = collate([synthetic_sample(cfg.data.sample, n_lidar=2000).without("radar")])
    with pytest.raises(ConfigError, match="radar_encoder"):
        export_onnx(model, [batch], tmp_path / "g", source="synthetic")
    assert not (tmp_path / "g").exists()


def test_cli_exports_a_checkpoint(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorfuse.cli import main

    out = tmp_path / "onnx"
    assert (
        main(["export", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--samples", "1"])
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoint"] == str(tiny_checkpoint) and set(manifest["graphs"]) == GRAPHS
    assert "max abs error vs PyTorch" in capsys.readouterr().out
    # an existing folder is not replaced silently
    assert main(["export", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
