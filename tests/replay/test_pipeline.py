"""Replay end to end on the generated world: outputs written and readable, faults reported, model path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensorfuse.bench.latency import TINY_OVERRIDES
from sensorfuse.classes import CAMERAS, LIDAR, RADARS
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import nuscenes_drive
from sensorfuse.replay.outputs import read_jsonl
from sensorfuse.replay.pipeline import ReplayOptions, run_replay
from sensorfuse.replay.stream import FaultPlan, drive_stream
from sensorfuse.sources.nuscenes import NuScenesDrive, NuScenesIndex

SMALL = SampleConfig(image_size=(48, 128), lidar_sweeps=2, radar_sweeps=2, on_missing="drop_sensor")


def _first_scene(world: tuple[Path, str]) -> str:
    root, version = world
    scenes = json.loads((root / version / "scene.json").read_text())
    return str(sorted(s["name"] for s in scenes)[0])


def _drive(world: tuple[Path, str]) -> NuScenesDrive:
    return nuscenes_drive(NuScenesIndex(*world), SMALL, _first_scene(world))


def test_scene_stream_has_every_sample_data_in_order(synth_world: tuple[Path, str]) -> None:
    root, version = synth_world
    scene = _first_scene(synth_world)
    stream = drive_stream(_drive(synth_world))
    tables = {
        n: json.loads((root / version / f"{n}.json").read_text()) for n in ("scene", "sample", "sample_data")
    }
    scene_tok = next(s["token"] for s in tables["scene"] if s["name"] == scene)
    samples = {s["token"] for s in tables["sample"] if s["scene_token"] == scene_tok}
    expected = {r["token"] for r in tables["sample_data"] if r["sample_token"] in samples}
    assert {m.token for m in stream.messages} == expected
    assert [(m.timestamp, m.channel) for m in stream.messages] == sorted(
        (m.timestamp, m.channel) for m in stream.messages
    )
    assert set(stream.channels) == {LIDAR, *CAMERAS, *RADARS}
    assert any(m.is_key_frame for m in stream.messages) and any(not m.is_key_frame for m in stream.messages)
    assert set(stream.sample_of_keyframe.values()) == samples


def test_no_model_replay_writes_readable_outputs_and_reports_drops(
    synth_world: tuple[Path, str], tmp_path: Path
) -> None:
    import cv2

    from sensorfuse.replay.rerun_log import read_rrd_summary

    opts = ReplayOptions(
        out=tmp_path, speed=0,
        trigger="keyframe", faults=FaultPlan.parse(drops=["CAM_FRONT"]), sample=SMALL, max_frames=3,
    )  # fmt: skip
    summary = run_replay(opts, _drive(synth_world))
    assert summary.frames == 3 and summary.keyframes == 3
    lines = read_jsonl(tmp_path / "detections.jsonl")
    assert [r["frame"] for r in lines] == [0, 1, 2]
    for r in lines:
        assert r["is_key_frame"] and r["sample_token"] and r["source"] == "ground_truth"
        assert "CAM_FRONT" in r["missing"] and "CAM_FRONT" not in r["sensors_used"]
        assert "LIDAR_TOP" in r["sensors_used"] and r["offsets_us"]["LIDAR_TOP"] == 0
        assert all(o <= 0 for o in r["offsets_us"].values())  # causal: nothing from the future
        assert r["latency_ms"]["end_to_end"] >= r["latency_ms"]["load"]
        if r["detections"]:
            d = r["detections"][0]
            assert (
                len(d["box"]) == 9 and len(d["rotation"]) == 4 and d["detection_name"] and len(d["size"]) == 3
            )
    cap = cv2.VideoCapture(str(tmp_path / "replay.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    info = read_rrd_summary(tmp_path / "replay.rrd")
    assert info["frames"] == [0, 1, 2]
    assert {"/world/lidar", "/world/gt", "/cameras/CAM_BACK", "/bev", "/latency/load", "/status"} <= set(
        info["entities"]
    )
    lat = json.loads((tmp_path / "latency.json").read_text())
    assert lat["n_frames"] == 3 and {"sync", "load"} <= set(lat["stages"])
    assert json.loads((tmp_path / "summary.json").read_text())["missing_counts"]["CAM_FRONT"] == 3
    _check_boxes_mcap(tmp_path / "detections.mcap", lines)


def _check_boxes_mcap(path: Path, lines: list[dict]) -> None:
    """detections.mcap holds each frame's boxes as a MarkerArray in the global frame: the JSONL's boxes."""
    from sensorfuse.sources.bagfile import open_bag
    from sensorfuse.sources.markers import boxes_from_markers

    with open_bag(path) as bag:
        arrays = [(m.topic, boxes_from_markers(m.decode(), m.where)) for m in bag.messages()]
    assert [t for t, _ in arrays] == ["/sensorfuse/ground_truth"] * len(lines)  # a GT replay: no detections
    for (_, b), r in zip(arrays, lines):
        assert b.frame_id == "map" and len(b.boxes) == len(r["detections"])
        for box, d in zip(b.boxes, r["detections"]):
            np.testing.assert_allclose(box[:3], d["translation"], atol=1e-3)  # the submission's global centre


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.engine.config import load_config
    from sensorfuse.models.build import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    cfg = load_config(None, [*TINY_OVERRIDES, "data.sample.lidar_sweeps=2"])
    torch.manual_seed(0)
    model = build_detector(cfg.model)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": model.state_dict()})
    return path


def test_model_replay_keeps_going_without_lidar(
    synth_world: tuple[Path, str], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from sensorfuse.cli import main

    root, version = synth_world
    out = tmp_path / "r"
    rc = main(["replay", "--dataroot", str(root), "--version", version, "--scene", _first_scene(synth_world),
               "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--speed", "0", "--max-frames", "2",
               "--drop", "LIDAR_TOP", "--min-score", "0", "--no-rerun"])  # fmt: skip
    assert rc == 0
    lines = read_jsonl(out / "detections.jsonl")
    assert len(lines) == 2
    for r in lines:
        assert r["source"] == "model" and "LIDAR_TOP" in r["missing"] and not r["modalities"]["lidar"]
        assert "lidar_encoder" not in r["latency_ms"] and "camera_encoder" in r["latency_ms"]
        assert r["score"] is not None  # keyframes are scored against the ground truth
        assert all(np.isfinite(d["box"]).all() for d in r["detections"])
    assert not (out / "replay.rrd").exists() and (out / "replay.mp4").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["score"]["keyframes_scored"] == 2


def test_bad_scene_and_fault_specs_are_clean_errors(synth_world: tuple[Path, str], tmp_path: Path) -> None:
    from sensorfuse.cli import main

    root, version = synth_world
    base = ["replay", "--dataroot", str(root), "--version", version, "--out", str(tmp_path), "--no-model"]
    assert main([*base, "--scene", "scene-9999"]) == 2
    assert main([*base, "--scene", _first_scene(synth_world), "--drop", "CAM_FRONT@9s-4s"]) == 2
    assert not (tmp_path / "detections.jsonl").exists()


def test_broken_sensor_file_is_reported_missing_and_replay_continues(
    synth_world: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sensorfuse.data.assemble as assemble  # the camera loader replay shares with keyframe loading
    from sensorfuse.errors import DataError

    real = assemble.load_camera

    def flaky(image: object, *args: object, **kw: object) -> object:
        if "CAM_BACK__" in str(getattr(image, "where", "")):
            raise DataError(image.where, "truncated or corrupt JPEG (no end-of-image marker FFD9)", "image")  # type: ignore[attr-defined]
        return real(image, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(assemble, "load_camera", flaky)
    opts = ReplayOptions(out=tmp_path, speed=0, sample=SMALL, max_frames=2, mp4=False, rerun=False)
    assert run_replay(opts, _drive(synth_world)).frames == 2
    for r in read_jsonl(tmp_path / "detections.jsonl"):
        assert r["missing"]["CAM_BACK"].startswith("bad data:") and "FFD9" in r["missing"]["CAM_BACK"]
        assert "CAM_BACK" not in r["sensors_used"] and "CAM_FRONT" in r["sensors_used"]
