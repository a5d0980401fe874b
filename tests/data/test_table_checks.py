"""Bad nuScenes tables and splits give a sentence naming the file, record and field, before any work.

Classes of issue 24 covered here: "tracebacks where a sentence belongs" (tables of the wrong shape, invalid
JSON), "late failures" (an empty annotation table, a split the version does not hold), and "silent
degradation" (a broken prev/next chain is a counted ``broken chain`` drop, never a silently shorter history).
Each case edits a private copy of the tiny synthetic world's tables (sensor files are symlinked, not copied).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.io.tables import load_table
from sensorfuse.sources.nuscenes.index import INDEX_FORMAT, check_split

Records = list[dict[str, Any]]


def private_world(src: Path, version: str, dst: Path) -> Path:
    """A copy of ``src``'s tables; maps, samples and sweeps are symlinks (nothing there is edited)."""
    dst.mkdir(parents=True)
    shutil.copytree(src / version, dst / version)
    for sub in ("maps", "samples", "sweeps"):
        (dst / sub).symlink_to(src / sub)
    return dst


@pytest.fixture
def world(synth_world: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    src, version = synth_world
    return private_world(src, version, tmp_path / "w"), version


def edit(root: Path, version: str, name: str, fn: Callable[[Records], Any]) -> None:
    """Apply ``fn`` to a table's records in place; a list or dict it returns replaces the table."""
    path = root / version / f"{name}.json"
    recs = json.loads(path.read_text())
    out = fn(recs)
    path.write_text(json.dumps(out if isinstance(out, (list, dict)) else recs))


def camera_calib(recs: Records) -> dict[str, Any]:
    return next(r for r in recs if r["camera_intrinsic"])


def build(root: Path, version: str, tmp: Path) -> NuScenesIndex:
    return NuScenesIndex(root, version, cache_dir=tmp / "cache")


# case: (table, edit of its records, field in the error, reason, words in the message)
CASES: dict[str, tuple[str, Callable[[Records], Any], str, str, str]] = {
    "log_json_an_object": ("log", lambda recs: recs[0], "log", "bad data", "array"),
    "missing_timestamp": (
        "sample_data",
        lambda recs: recs[3].pop("timestamp"),
        "timestamp",
        "bad data",
        "no field 'timestamp'",
    ),
    "string_timestamp": (
        "ego_pose",
        lambda recs: recs[5].update(timestamp=str(recs[5]["timestamp"])),
        "timestamp",
        "bad data",
        "expected an integer",
    ),
    "string_sample_timestamp": (
        "sample",
        lambda recs: recs[0].update(timestamp="soon"),
        "timestamp",
        "bad data",
        "expected an integer",
    ),
    "zero_quaternion_calibration": (
        "calibrated_sensor",
        lambda recs: recs[2].update(rotation=[0, 0, 0, 0]),
        "rotation",
        "bad calibration",
        "zero quaternion",
    ),
    "zero_quaternion_ego_pose": (
        "ego_pose",
        lambda recs: recs[7].update(rotation=[0.0, 0.0, 0.0, 0.0]),
        "rotation",
        "bad data",
        "zero quaternion",
    ),
    "nan_annotation_rotation": (
        "sample_annotation",
        lambda recs: recs[1].update(rotation=[float("nan"), 0, 0, 1]),
        "rotation",
        "bad data",
        "not finite",
    ),
    "singular_camera_intrinsic": (
        "calibrated_sensor",
        lambda recs: camera_calib(recs).update(camera_intrinsic=[[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1]]),
        "camera_intrinsic",
        "bad calibration",
        "singular",
    ),
    "camera_without_intrinsic": (
        "calibrated_sensor",
        lambda recs: camera_calib(recs).update(camera_intrinsic=[]),
        "camera_intrinsic",
        "bad calibration",
        "needs a 3x3",
    ),
    "translation_of_two": (
        "calibrated_sensor",
        lambda recs: recs[0].update(translation=[1.0, 2.0]),
        "translation",
        "bad calibration",
        "3 finite numbers",
    ),
    "zero_box_size": (
        "sample_annotation",
        lambda recs: recs[4].update(size=[1.0, 0.0, 1.0]),
        "size",
        "bad data",
        "> 0",
    ),
    "float_num_lidar_pts": (
        "sample_annotation",
        lambda recs: recs[4].update(num_lidar_pts=50.0),
        "num_lidar_pts",
        "bad data",
        "integer",
    ),
    "duplicate_token": (
        "sample",
        lambda recs: recs.append(dict(recs[0])),
        "token",
        "bad data",
        "unique",
    ),
    "dangling_instance": (
        "sample_annotation",
        lambda recs: recs[0].update(instance_token="no-such-instance"),
        "instance_token",
        "bad data",
        "instance.json",
    ),
    "dangling_calibration": (
        "sample_data",
        lambda recs: recs[9].update(calibrated_sensor_token="nope"),
        "calibrated_sensor_token",
        "bad data",
        "calibrated_sensor.json",
    ),
    "log_not_in_any_map": (
        "log",
        lambda recs: recs.append({**recs[0], "token": "orphan-log"}),
        "token",
        "bad data",
        "log_tokens",
    ),
    "record_not_an_object": ("scene", lambda recs: recs.append(["x"]), "scene", "bad data", "object"),
    "empty_sample_data_table": ("sample_data", lambda recs: [], "sample_data", "empty file", "no records"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_table_is_named(case: str, world: tuple[Path, str], tmp_path: Path) -> None:
    """class: tracebacks where a sentence belongs — each bad table is a DataError naming file, record, field."""
    root, version = world
    table, fn, field, reason, words = CASES[case]
    edit(root, version, table, fn)
    with pytest.raises(DataError) as err:
        build(root, version, tmp_path)
    e = err.value
    assert Path(e.where) == root / version / f"{table}.json", str(e)
    assert e.field == field and e.reason == reason, str(e)
    assert words in str(e) and f"[{field}]" in str(e)


def test_bad_record_names_its_token(world: tuple[Path, str], tmp_path: Path) -> None:
    """class: tracebacks where a sentence belongs — the record at fault is named by its token."""
    root, version = world
    token = json.loads((root / version / "ego_pose.json").read_text())[5]["token"]
    edit(root, version, "ego_pose", lambda recs: recs[5].update(timestamp="1532999999975020"))
    with pytest.raises(DataError, match=rf"record '{token}': timestamp is '1532999999975020'"):
        build(root, version, tmp_path)


@pytest.mark.parametrize(
    ("content", "reason", "words"),
    [(b'[{"token": "a", ', "corrupt", "not valid JSON"), (b"", "empty file", "empty file (0 bytes)")],
)
def test_invalid_or_empty_json_names_the_file(
    content: bytes, reason: str, words: str, world: tuple[Path, str], tmp_path: Path
) -> None:
    """class: tracebacks where a sentence belongs / late failures — a truncated or zero-size table is named
    (a zero-size sample_annotation.json is a broken write, not a test split)."""
    root, version = world
    path = root / version / "sample_annotation.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        build(root, version, tmp_path)
    assert err.value.where == str(path) and err.value.reason == reason and words in str(err.value)


def test_missing_map_image_is_named(world: tuple[Path, str], tmp_path: Path) -> None:
    """class: tracebacks where a sentence belongs — the devkit's map assert becomes a named error."""
    root, version = world
    edit(root, version, "map", lambda recs: recs[0].update(filename="maps/none.png"))
    with pytest.raises(DataError, match=r"none\.png does not exist") as err:
        build(root, version, tmp_path)
    assert err.value.field == "filename" and err.value.reason == "missing file"


def test_load_table_checks_only_the_fields_asked(world: tuple[Path, str]) -> None:
    """class: tracebacks where a sentence belongs — direct table readers (sync-report) get named errors too."""
    root, version = world
    edit(root, version, "sample", lambda recs: recs[0].update(timestamp="soon"))
    assert len(load_table(root, version, "sample")) > 0  # token and shape only
    with pytest.raises(DataError, match=r"sample\.json \[timestamp\]"):
        load_table(root, version, "sample", ("timestamp", "scene_token"))


def test_empty_annotation_table_is_a_test_split(world: tuple[Path, str], tmp_path: Path) -> None:
    """class: late failures — no annotations builds (a test split) but evaluation is refused up front."""
    root, version = world
    edit(root, version, "sample_annotation", lambda recs: [])
    edit(root, version, "instance", lambda recs: [])
    index = build(root, version, tmp_path)
    assert check_split(index, "mini_val", evaluation=False) == index.split_tokens("mini_val")
    with pytest.raises(DataError) as err:
        check_split(index, "mini_val")
    assert err.value.where.endswith("sample_annotation.json") and "no annotations" in str(err.value)


def test_split_not_in_version(world: tuple[Path, str], tmp_path: Path) -> None:
    """class: late failures — `evaluate --split val` on v1.0-mini fails before inference, with the reason."""
    root, version = world
    index = build(root, version, tmp_path)
    assert check_split(index, "mini_val") == index.split_tokens("mini_val")
    with pytest.raises(ConfigError, match=r"'val'.*'trainval'.*'v1\.0-mini'.*mini_val"):
        check_split(index, "val")
    with pytest.raises(ConfigError, match="unknown split 'nope'"):
        check_split(index, "nope")
    assert check_split(index, "all", evaluation=False) == index.split_tokens("all")
    with pytest.raises(ConfigError):
        check_split(index, "all")  # the devkit has no 'all' split


def test_split_without_detection_boxes(world: tuple[Path, str], tmp_path: Path) -> None:
    """class: late failures — annotations that the eval would filter out entirely are refused up front."""
    root, version = world

    def no_points(recs: Records) -> None:
        for r in recs:
            r.update(num_lidar_pts=0, num_radar_pts=0)

    edit(root, version, "sample_annotation", no_points)
    with pytest.raises(DataError, match="every AP would be 0"):
        check_split(build(root, version, tmp_path), "mini_val")


def _lidar_key(index: NuScenesIndex, token: str) -> str:
    return str(index.samples[token]["data"]["LIDAR_TOP"])


def _late_sample(index: NuScenesIndex) -> str:
    """A mini_val sample whose LIDAR_TOP keyframe has an earlier sweep."""
    return next(t for t in index.split_tokens("mini_val") if index.sample_data[_lidar_key(index, t)]["prev"])


@pytest.mark.parametrize("fault", ["dangling_prev", "loop"])
def test_broken_prev_chain_is_a_counted_drop(fault: str, world: tuple[Path, str], tmp_path: Path) -> None:
    """class: silent degradation — a broken prev chain raises 'broken chain' (field prev / timestamp) and,
    under drop_sensor, is recorded as a drop with that reason instead of a silently shorter history."""
    root, version = world
    index = build(root, version, tmp_path)
    sample = _late_sample(index)
    key = _lidar_key(index, sample)
    prev = index.sample_data[key]["prev"]

    def broken(recs: Records) -> None:
        by = {r["token"]: r for r in recs}
        if fault == "dangling_prev":
            by[key]["prev"] = "no-such-token"
        else:  # the sweep before the keyframe points back to it: a loop
            by[prev]["prev"], by[key]["next"] = key, prev

    edit(root, version, "sample_data", broken)
    index = build(root, version, tmp_path)  # the tables are fine: the chain is checked per sensor
    cfg = SampleConfig(lidar_sweeps=3, radar_sweeps=1, load_gt=False, cameras=(), radars=())
    with pytest.raises(DataError, match=r"broken prev/next chain|non-monotonic") as err:
        load_sample(index, sample, cfg)
    assert err.value.reason == "broken chain"
    assert (err.value.where, err.value.field) == (
        (key, "prev") if fault == "dangling_prev" else (key, "timestamp")
    )
    s = load_sample(index, sample, replace(cfg, on_missing="drop_sensor"))
    assert s.lidar is None and s.meta.missing["LIDAR_TOP"].startswith("broken chain:")


def test_cache_hit_skips_the_checks(
    world: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks run once per build; a cache hit (tables unchanged) does not read the tables again."""
    root, version = world
    first = build(root, version, tmp_path)

    def no_tables(*a: Any, **k: Any) -> None:
        raise AssertionError("tables read on a cache hit")

    monkeypatch.setattr("sensorfuse.sources.nuscenes.index.load_tables", no_tables)
    assert build(root, version, tmp_path).samples == first.samples


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        lambda p: p.write_bytes(b"\xff\xfe not utf-8"),
        lambda p: p.write_text("[1, 2, 3]"),
        lambda p: p.write_text(json.dumps({"format": INDEX_FORMAT})),
    ],
    ids=["truncated", "not_utf8", "an_array", "no_index"],
)
def test_corrupt_cache_is_rebuilt(
    corrupt: Callable[[Path], Any], world: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """class: tracebacks where a sentence belongs — a corrupt index cache is rebuilt, with a warning naming it."""
    root, version = world
    first = build(root, version, tmp_path)
    corrupt(first.cache_path)
    with caplog.at_level(logging.WARNING, logger="sensorfuse.sources.nuscenes.index"):
        again = build(root, version, tmp_path)
    assert again.samples == first.samples and again.splits == first.splits
    assert str(first.cache_path) in caplog.text and "rebuilding" in caplog.text
    assert json.loads(first.cache_path.read_text())["format"] == INDEX_FORMAT  # rewritten whole
