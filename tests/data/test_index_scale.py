"""Trainval-sized worlds (issue 27): the shared-payload generator and the scale benchmark on tiny worlds.

Classes: silent drift (a light world whose tables differ from the full world's), broken reference (a record
naming a file that is not there), unmeasured claims (a benchmark that cannot run or reports nothing).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sensorfuse.bench import scale
from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.errors import ConfigError
from sensorfuse.synth import SynthConfig, generate
from sensorfuse.synth.config import scene_names

TINY = dict(
    version="v1.0-mini", scenes=2, val_scenes=1, seed=5, scene_seconds=2.0, image_width=64, image_height=36,
    lidar_azimuth_steps=200, progress=False, workers=1, annotation_range=15.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny world with a full and a shared payload."""
    out = {}
    for payload in ("full", "shared"):
        out[payload] = tmp_path_factory.mktemp(payload) / "w"
        generate(out[payload], SynthConfig(payload=payload, **TINY))  # type: ignore[arg-type]
    return out


def _table(root: Path, name: str) -> list[dict]:
    return json.loads((root / "v1.0-mini" / f"{name}.json").read_text())


def test_shared_payload_keeps_the_records_and_shares_the_files(worlds: dict[str, Path]) -> None:
    """class: silent drift — a shared payload changes which files the records name, not the records: the
    same sample_data (tokens, timestamps, keyframes, ego poses), samples and annotation tokens; one file per
    channel and scene, every file there and loadable."""
    full, shared = worlds["full"], worlds["shared"]
    keep = ("token", "timestamp", "is_key_frame", "sample_token", "ego_pose_token", "prev", "next")
    sd_full, sd_shared = _table(full, "sample_data"), _table(shared, "sample_data")
    assert [{k: r[k] for k in keep} for r in sd_full] == [{k: r[k] for k in keep} for r in sd_shared]
    assert _table(full, "ego_pose") == _table(shared, "ego_pose")
    assert _table(full, "sample") == _table(shared, "sample")
    tokens = [a["token"] for a in _table(full, "sample_annotation")]
    assert tokens == [a["token"] for a in _table(shared, "sample_annotation")] and tokens
    files = Counter(r["filename"] for r in sd_shared)
    assert len(files) == 2 * 12 and all((shared / f).is_file() for f in files)
    assert len({r["filename"] for r in sd_full}) == len(sd_full)
    index = NuScenesIndex(shared, "v1.0-mini", progress=False)
    s = load_sample(index, index.split_tokens("all")[-1], SampleConfig(image_size=(32, 64)))
    assert s.lidar is not None and len(s.lidar.points) > 0 and s.cameras is not None


def test_annotation_range_bounds_the_boxes(worlds: dict[str, Path]) -> None:
    """class: silent drift — every annotation lies within ``annotation_range`` of the ego at its keyframe."""
    index = NuScenesIndex(worlds["shared"], "v1.0-mini", progress=False)
    dist = []
    for token in index.split_tokens("all"):
        sample = index.sample(token)
        ego = np.array(index.sample_data[sample["data"]["LIDAR_TOP"]]["ego_pose"][:2])
        dist += [np.hypot(*(np.array(index.annotations[a]["translation"][:2]) - ego)) for a in sample["anns"]]
    assert dist and max(dist) < TINY["annotation_range"]


def test_trainval_names_and_bad_settings() -> None:
    """class: silent drift — 850 trainval scenes are exactly the official train (700) and val (150) scenes;
    a bad payload or range is a ConfigError."""
    from nuscenes.utils.splits import create_splits_scenes

    names = scene_names(SynthConfig(version="v1.0-trainval", scenes=850))
    official = create_splits_scenes()
    assert sorted(n for n, s in names if s == "val") == sorted(official["val"])
    assert sorted(n for n, s in names if s == "train") == sorted(official["train"]) and len(names) == 850
    for bad in ({"payload": "thin"}, {"annotation_range": 0.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SynthConfig(**bad).validate()  # type: ignore[arg-type]


def test_scale_bench_steps_on_a_tiny_world(worlds: dict[str, Path], tmp_path: Path) -> None:
    """class: unmeasured claims — the benchmark's steps run and report every figure: the build, the load
    (without the devkit), and each worker's memory at start, warm and after a pass over the train split."""
    root = str(worlds["shared"])
    build = scale.step_build(root, "v1.0-mini", str(tmp_path))
    assert build["size_mb"] > 0 and build["records"]["sample"] == 8 and set(build["stages_s"]) >= {"devkit"}
    load = scale.step_load(root, "v1.0-mini", str(tmp_path), "columns")
    assert load["open_s"] < 5 and load["sample_data_lookup_us"] > 0
    run = scale.step_pass(root, "v1.0-mini", str(tmp_path), "columns", "index", 2, 2)
    assert run["samples"] == 4 and len(run["workers"]) == 2
    for w in run["workers"]:
        assert {"start", "warm", "mid", "end", "growth"} <= set(w) and w["start"]["Pss"] > 0
        assert w["growth"]["VmRSS"] == w["end"]["VmRSS"] - w["warm"]["VmRSS"]
    rep = {"build": build, "load": load, "pass": run, "tables_json_mb": 1.0}
    rep["first_batch"] = {"total_s": 1.0, "preflight_s": 0.1, "train_samples": 4}
    rep["throughput"] = {"full": {"samples_per_s": 2.0}, "index": {"samples_per_s": 9.0}}
    assert "worker VmRSS" in scale.markdown(rep)
    table = scale.growth_table([rep, rep])
    assert table.count("\n") == 18 and "2 scenes" in table
