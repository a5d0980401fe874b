"""Replay on a real nuScenes keyframe (rebuilt from ../shared/realdata by tests/data/realworld.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sensorfuse.classes import CAMERAS, RADARS
from sensorfuse.data.config import SampleConfig
from sensorfuse.replay.outputs import read_jsonl
from sensorfuse.replay.pipeline import ReplayOptions, run_replay

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld.py"


def _build_real_world(realdata: Path, out: Path) -> tuple[Path, str, str]:
    spec = importlib.util.spec_from_file_location("sensorfuse_test_realworld", REALWORLD)
    if spec is None or spec.loader is None:
        pytest.skip(f"{REALWORLD} not found")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_real_world(realdata, out)  # type: ignore[no-any-return]


@pytest.mark.realdata
def test_causal_replay_of_a_real_keyframe(realdata: Path, tmp_path: Path) -> None:
    from sensorfuse.data import NuScenesIndex, load_sample

    root, version, token = _build_real_world(realdata, tmp_path / "world")
    cfg = SampleConfig(image_size=(128, 352), lidar_sweeps=1, radar_sweeps=1, on_missing="drop_sensor")
    from sensorfuse.data.sample import nuscenes_drive

    opts = ReplayOptions(out=tmp_path / "out", speed=0, sample=cfg, rerun=False)
    summary = run_replay(opts, nuscenes_drive(NuScenesIndex(root, version), cfg, "scene-0061"))
    assert summary.frames == 1
    (rec,) = read_jsonl(tmp_path / "out" / "detections.jsonl")
    assert rec["sample_token"] == token and rec["is_key_frame"]
    # the six real images precede the LiDAR keyframe (captured during its sweep): all used, with offsets < 0
    assert set(rec["sensors_used"]) == {"LIDAR_TOP", *CAMERAS}
    assert all(-50_000 < rec["offsets_us"][c] <= 0 for c in CAMERAS)
    # the real radar file is 16 ms after the LiDAR: a causal replay must not use it
    assert set(rec["missing"]) == set(RADARS)
    assert all(r.startswith("absent") for r in rec["missing"].values())
    offline = load_sample(NuScenesIndex(root, version), token, cfg)
    assert offline.gt is not None and len(rec["detections"]) == len(offline.gt) > 30
    assert (tmp_path / "out" / "replay.mp4").stat().st_size > 10_000
