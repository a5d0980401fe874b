"""Latency benchmark: the detector's stages are all timed and add up to the end-to-end time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorfuse.bench.latency import TINY_OVERRIDES, BenchInputs, measure, parse_sensor_subsets
from sensorfuse.engine.runner import ModelRunner, synthetic_sample
from sensorfuse.errors import ConfigError
from sensorfuse.models.stages import MODEL_STAGES
from sensorfuse.utils.timing import StageTimer


@pytest.fixture(scope="module")
def tiny() -> ModelRunner:
    import torch

    from sensorfuse.engine.config import load_config
    from sensorfuse.models.build import build_detector

    cfg = load_config(None, TINY_OVERRIDES)
    torch.manual_seed(0)
    return ModelRunner(build_detector(cfg.model), cfg.data.sample, "cpu")


def test_stages_add_up_to_end_to_end(tiny: ModelRunner) -> None:
    s = measure(tiny, frames=3, warmup=1, inputs=BenchInputs(synthetic_lidar_points=3000))
    assert s.n_frames == 3
    assert set(s.stages) >= set(MODEL_STAGES), set(s.stages)
    assert all(s.stages[k].n == 3 and s.stages[k].p50 > 0 for k in MODEL_STAGES)
    total = s.end_to_end.mean
    assert s.stage_sum_mean_ms <= total * 1.001 + 0.05  # stages never exceed the frame
    assert s.stage_sum_mean_ms == pytest.approx(total, rel=0.10, abs=3.0)
    no_pre = s.end_to_end_no_preprocessing.mean
    assert no_pre == pytest.approx(total - s.stages["voxelize"].mean - s.stages["load"].mean, abs=1e-6)


def test_sensor_subset_skips_other_encoders(tiny: ModelRunner) -> None:
    tiny.sensors = ("lidar",)
    try:
        timer = StageTimer()
        with timer.frame():
            boxes = tiny.predict_sample(synthetic_sample(tiny.sample_config, n_lidar=3000), timer)
        assert boxes.boxes.shape[1] == 9
        assert set(timer.frames[0]) == {"load", "voxelize", "lidar_encoder", "fuser", "head", "postprocess"}
    finally:
        tiny.sensors = tuple(tiny.model.sensors)


def test_parse_sensor_subsets() -> None:
    assert parse_sensor_subsets(["all", "lidar", "camera,radar"]) == [
        ("lidar", "camera", "radar"), ("lidar",), ("camera", "radar")]  # fmt: skip
    with pytest.raises(ConfigError, match="--sensors"):
        parse_sensor_subsets(["lidar,sonar"])


def test_cli_writes_json_markdown_and_png(tmp_path: Path) -> None:
    from sensorfuse.cli import main

    out = tmp_path / "lat"
    rc = main(["bench", "latency", "--frames", "1", "--warmup", "0", "--sensors", "all", "lidar,radar", "--synthetic-points", "3000",
               "--out", str(out), *TINY_OVERRIDES])  # fmt: skip
    assert rc == 0
    report = json.loads((out / "latency.json").read_text())
    assert set(report["runs"]) == {"default[lidar+camera+radar]", "default[lidar+radar]"}
    assert "camera_encoder" not in report["runs"]["default[lidar+radar]"]["stages"]
    assert report["machine"]["device"] == "cpu"
    assert "| fuser |" in (out / "latency.md").read_text()
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_cuda_device_is_refused_without_a_gpu(tiny: ModelRunner) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        ModelRunner(tiny.model, tiny.sample_config, "cuda")


@pytest.mark.cuda
def test_cuda_latency_runs(tiny: ModelRunner) -> None:
    gpu = ModelRunner(tiny.model, tiny.sample_config, "cuda")
    s = measure(gpu, frames=3, warmup=1, inputs=BenchInputs(synthetic_lidar_points=3000))
    assert s.device == "cuda" and s.stage_sum_mean_ms == pytest.approx(s.end_to_end.mean, rel=0.2, abs=3.0)


def test_dataset_inputs_time_load_and_sync(tiny: ModelRunner, synth_world: tuple[Path, str]) -> None:
    root, version = synth_world
    s = measure(
        tiny, frames=2, warmup=0, inputs=BenchInputs(dataroot=root, version=version, split="mini_val")
    )
    assert s.stages["load"].n == 2 and s.stages["sync"].n == 2
    assert s.stages["load"].p50 > s.stages["sync"].p50 > 0
    assert s.end_to_end_no_preprocessing.mean < s.end_to_end.mean


def test_drive_inputs_time_load_and_sync(tiny: ModelRunner, tmp_path: Path) -> None:
    """``bench latency --drive``: the sweeps of a recorded drive of another rig, loaded through the seam."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
    from drive_fixtures import write_other_rig_bag

    bag = tmp_path / "other.mcap"
    write_other_rig_bag(bag, "mcap", frames=3)
    rig = Path(__file__).resolve().parents[2] / "calib" / "rigs" / "other_car.yaml"
    s = measure(tiny, frames=3, warmup=0, inputs=BenchInputs(drive=bag, rig=rig))
    assert s.stages["load"].n == 3 and s.stages["sync"].n == 3 and s.stages["lidar_encoder"].n == 3


def test_bench_forwards_other_benchmarks_to_their_modules() -> None:
    from sensorfuse.cli import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "ops", "--help"])  # the ops module's own parser prints its help
    assert e.value.code == 0


def test_runtimes_side_by_side_in_one_run(tmp_path: Path) -> None:
    """``--runtime eager,onnxruntime``: one run per runtime, their settings, point counts and network-stage sums in
    the JSON, and a side-by-side table with each stage's speed-up over eager."""
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed")
    from sensorfuse.cli import main

    out = tmp_path / "lat"
    rc = main(["bench", "latency", "--frames", "2", "--warmup", "0", "--synthetic-points", "3000",
               "--runtime", "eager,onnxruntime", "--out", str(out), *TINY_OVERRIDES])  # fmt: skip
    assert rc == 0
    runs = json.loads((out / "latency.json").read_text())["runs"]
    assert set(runs) == {"default[eager]", "default[onnxruntime]"}
    ort = runs["default[onnxruntime]"]["meta"]
    assert ort["runtime"]["runtime"] == "onnxruntime" and ort["runtime"]["precision"] == "fp32"
    assert ort["runtime"]["onnxruntime"] and ort["runtime"]["intra_op_threads"] >= 1
    assert ort["points_per_frame"]["lidar"]["mean"] == 3000
    for run in runs.values():
        net = run["meta"]["network_stages"]
        stages = run["stages"]
        parts = sum(stages[s]["mean"] for s in ("lidar_encoder", "camera_encoder", "view_transform",
                                                 "radar_encoder", "fuser", "head"))  # fmt: skip
        assert net["n"] == 2 and net["mean"] == pytest.approx(parts, rel=1e-9)
    md = (out / "latency.md").read_text()
    assert "runtimes side by side" in md and "| network stages |" in md and "x**)" in md


def test_unknown_runtime_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sensorfuse.cli import main

    rc = main(
        [
            "bench",
            "latency",
            "--frames",
            "1",
            "--runtime",
            "eager,tvm",
            "--out",
            str(tmp_path),
            *TINY_OVERRIDES,
        ]
    )
    assert rc == 2 and "--runtime 'eager,tvm'" in capsys.readouterr().err
