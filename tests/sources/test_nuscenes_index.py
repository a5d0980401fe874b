"""The columnar NuScenesIndex reads back exactly what the devkit says, and what the JSON index held.

Classes: silent drift (a faster index that no longer matches the devkit), tracebacks where a sentence belongs
(a bad cache or a token the columns cannot hold), copies per process (the index pickled or copied by value).
"""

from __future__ import annotations

import json
import logging
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.io.tables import load_tables
from sensorfuse.sources.nuscenes.index import OPTIONAL_TABLES, NuScenesIndex, open_devkit
from sensorfuse.sources.nuscenes.index_tables import COLUMNS, IndexColumns, encode, reference_records


@pytest.fixture(scope="module")
def index(synth_world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> NuScenesIndex:
    root, version = synth_world
    return NuScenesIndex(root, version, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def nusc(synth_world: tuple[Path, str]) -> Any:
    """The devkit reading the tables itself (not through the checked tables): the truth."""
    from nuscenes.nuscenes import NuScenes

    root, version = synth_world
    return NuScenes(version=version, dataroot=str(root), verbose=False)


def _pose(rec: dict[str, Any]) -> list[float]:
    return [*rec["translation"], *rec["rotation"]]


def test_index_round_trips_the_devkit(index: NuScenesIndex, nusc: Any) -> None:
    """class: silent drift — every token, timestamp, transform and annotation of the index (read back from
    the memory-mapped columns) equals what the devkit says, record by record."""
    assert index.mapped and list(index.samples) == [s["token"] for s in nusc.sample]
    for s in nusc.sample:
        rec = index.samples[s["token"]]
        assert rec["timestamp"] == s["timestamp"] and (rec["prev"], rec["next"]) == (s["prev"], s["next"])
        assert rec["scene"] == nusc.get("scene", s["scene_token"])["name"]
        assert rec["data"] == s["data"] and rec["anns"] == s["anns"]
    assert list(index.sample_data) == [r["token"] for r in nusc.sample_data]
    for r in nusc.sample_data:
        rec = index.sample_data[r["token"]]
        assert (rec["channel"], rec["modality"]) == (r["channel"], r["sensor_modality"])
        assert (rec["filename"], rec["timestamp"], rec["is_key_frame"]) == (
            r["filename"], r["timestamp"], r["is_key_frame"],
        )  # fmt: skip
        assert (rec["prev"], rec["next"], rec["sample"]) == (r["prev"], r["next"], r["sample_token"])
        assert rec["calib"] == r["calibrated_sensor_token"]
        assert rec["ego_pose"] == _pose(nusc.get("ego_pose", r["ego_pose_token"]))
        assert (rec["width"], rec["height"]) == (r["width"], r["height"])
    for c in nusc.calibrated_sensor:
        rec = index.calib[c["token"]]
        assert rec["pose"] == _pose(c) and rec["intrinsic"] == (c["camera_intrinsic"] or None)
    assert len(index.annotations) == len(nusc.sample_annotation) > 100
    for a in nusc.sample_annotation:
        rec = index.annotations[a["token"]]
        assert rec["category"] == a["category_name"] and rec["instance"] == a["instance_token"]
        assert (rec["translation"], rec["size"], rec["rotation"]) == (
            a["translation"],
            a["size"],
            a["rotation"],
        )
        first = nusc.get("attribute", a["attribute_tokens"][0])["name"] if a["attribute_tokens"] else ""
        assert rec["attribute"] == first and "attributes" not in rec
        assert (rec["num_lidar_pts"], rec["num_radar_pts"]) == (a["num_lidar_pts"], a["num_radar_pts"])
        with np.errstate(divide="ignore", invalid="ignore"):
            vel = nusc.box_velocity(a["token"])[:2]
        assert rec["velocity"] == [v if math.isfinite(v) else None for v in vel]
    assert {n: s["samples"] for n, s in index.scenes.items()} == {
        sc["name"]: sorted(
            (s["token"] for s in nusc.sample if s["scene_token"] == sc["token"]),
            key=lambda t: nusc.get("sample", t)["timestamp"],
        )
        for sc in nusc.scene
    }


def test_index_equals_the_json_index(index: NuScenesIndex, synth_world: tuple[Path, str]) -> None:
    """class: silent drift — the columns hold exactly what the JSON index (format 2) held, in its order."""
    ref = json.loads(json.dumps(reference_records(open_devkit(*synth_world))))  # as the JSON cache read back
    for name in ("scenes", "samples", "sample_data", "calib", "annotations"):
        got = dict(getattr(index, name).items())
        assert list(got) == list(ref[name]) and got == ref[name], name


def _chains(tables: dict[str, list[dict[str, Any]]], length: int) -> list[list[dict[str, Any]]]:
    """The annotation chains (first to last) of the instances with at least ``length`` annotations."""
    anns = {a["token"]: a for a in tables["sample_annotation"]}
    out = []
    for inst in tables["instance"]:
        chain, tok = [], inst["first_annotation_token"]
        while tok:
            chain.append(anns[tok])
            tok = anns[tok]["next"]
        if len(chain) >= length:
            out.append(chain)
    return out


def test_box_velocity_edge_cases_match_the_devkit(synth_world: tuple[Path, str]) -> None:
    """class: silent drift — the vectorised box velocity equals the devkit's box_velocity for every annotation,
    also with a neighbour an hour away (no velocity), two boxes of one chain at one time (no velocity), a box
    moved 10 km (a large velocity), and an annotation with several attributes."""
    root, version = synth_world
    tables = load_tables(root, version, OPTIONAL_TABLES)
    far, same = _chains(tables, 5)[:2]
    last = max(tables["sample"], key=lambda s: s["timestamp"])
    assert (
        last["scene_token"]
        != next(s for s in tables["sample"] if s["token"] == far[3]["sample_token"])["scene_token"]
    )
    far[4]["sample_token"] = last["token"]  # another scene, an hour later
    far[1]["translation"] = [v + 1e4 for v in far[1]["translation"]]
    same[1]["sample_token"] = same[0]["sample_token"]
    tables["sample_annotation"][0]["attribute_tokens"] = [a["token"] for a in tables["attribute"][:2]]
    nusc = open_devkit(root, version, tables)
    cols = IndexColumns(*encode(nusc, progress=False))
    for a in nusc.sample_annotation:
        with np.errstate(divide="ignore", invalid="ignore"):
            vel = nusc.box_velocity(a["token"])[:2]
        assert cols.annotations[a["token"]]["velocity"] == [v if math.isfinite(v) else None for v in vel]
    velocity = {a["token"]: cols.annotations[a["token"]]["velocity"] for a in (*far, *same)}
    assert velocity[far[3]["token"]] == [None, None]  # its next is an hour later
    assert velocity[same[0]["token"]] == [None, None]  # 0 s apart
    assert abs(velocity[far[0]["token"]][0]) > 1e3  # moved 10 km in 0.5 s
    assert cols.annotations[tables["sample_annotation"][0]["token"]]["attributes"] == [
        a["name"] for a in tables["attribute"][:2]
    ]


def test_lookups_keys_and_fresh_records(index: NuScenesIndex) -> None:
    """class: tracebacks where a sentence belongs — unknown tokens give KeyError / DataError / None, and a
    record is a new dict each time (changing it changes nothing)."""
    tok = next(iter(index.sample_data))
    assert tok in index.sample_data and "nope" not in index.sample_data and 3 not in index.sample_data
    assert index.sample_data.get("x" * 200) is None and "a\0" not in index.samples
    with pytest.raises(KeyError):
        index.annotations["nope"]
    with pytest.raises(KeyError):
        index.path("nope")
    with pytest.raises(DataError, match="sample token not found"):
        index.sample("nope")
    rec = index.sample_data[tok]
    rec["filename"] = "changed"
    assert index.sample_data[tok]["filename"] != "changed"
    assert index.path(tok) == index.dataroot / index.sample_data[tok]["filename"]
    assert len(index.sample_data) == sum(1 for _ in index.sample_data.values())
    assert index.channels == {
        ch: mod for ch, mod in sorted({(r["channel"], r["modality"]) for r in index.sample_data.values()})
    }


def test_scene_sample_data_is_the_scene(index: NuScenesIndex) -> None:
    """class: silent drift — the vectorised scene filter gives the records whose sample is in the scene."""
    scene = next(iter(index.scenes))
    samples = set(index.scene_tokens(scene))
    want = sorted(t for t, r in index.sample_data.items() if r["sample"] in samples)
    assert index.scene_sample_data(scene) == want and want


def test_shared_not_copied(index: NuScenesIndex) -> None:
    """class: copies per process — the arrays are read-only maps of the files, and pickling the index (a
    spawned DataLoader worker) sends its folder, not its records; the copy maps the same files."""
    arrays = index.columns.a
    assert set(arrays) == set(COLUMNS)
    for a in arrays.values():
        assert not a.flags.writeable and isinstance(a.base, np.memmap)
    data = pickle.dumps(index)
    assert len(data) < 20_000
    again = pickle.loads(data)
    tok = next(iter(index.annotations))
    assert again.annotations[tok] == index.annotations[tok] and again.splits == index.splits


@pytest.mark.parametrize("damage", ["truncate_array", "drop_array", "wrong_shape"])
def test_damaged_folder_is_rebuilt(
    damage: str, synth_world: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """class: tracebacks where a sentence belongs — a damaged index folder is rebuilt, with a warning naming it."""
    root, version = synth_world
    first = NuScenesIndex(root, version, cache_dir=tmp_path)
    want, cache_path = dict(first.sample_data.items()), first.cache_path
    del first  # its arrays map the files damaged below (a mapped file cut short would fault on access)
    array = cache_path.parent / "sample_data.ego_pose.npy"
    if damage == "truncate_array":
        array.write_bytes(array.read_bytes()[:200])
    elif damage == "drop_array":
        array.unlink()
    else:
        meta = json.loads(cache_path.read_text())
        meta["arrays"]["sample_data.ego_pose"][1][0] += 1
        cache_path.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="sensorfuse.sources.nuscenes.index"):
        again = NuScenesIndex(root, version, cache_dir=tmp_path)
    assert str(cache_path) in caplog.text and "rebuilding" in caplog.text
    assert dict(again.sample_data.items()) == want


def test_old_json_cache_is_removed(synth_world: tuple[Path, str], tmp_path: Path) -> None:
    """class: disk left behind — the ~1 GB JSON index of the earlier format goes when the columns are built."""
    root, version = synth_world
    old = tmp_path / f"index_{version}.json"
    old.write_text('{"format": 2}')
    index = NuScenesIndex(root, version, cache_dir=tmp_path)
    assert not old.exists() and index.cache_path.is_file()


def test_token_with_nul_is_refused(synth_world: tuple[Path, str], tmp_path: Path) -> None:
    """class: silent garbage — a token ending in NUL (fixed-width bytes would drop it) is a DataError naming
    the table file and field, not a wrong lookup."""
    root, version = synth_world
    world = tmp_path / "w"
    world.mkdir()
    for entry in root.iterdir():
        if entry.name not in (version, ".sensorfuse"):
            (world / entry.name).symlink_to(entry)
    (world / version).mkdir()
    for table in (root / version).iterdir():
        (world / version / table.name).write_bytes(table.read_bytes())
    path = world / version / "sample_data.json"
    recs = json.loads(path.read_text())
    sweep = next(r for r in recs if not r["is_key_frame"])
    sweep["token"] += "\0"
    path.write_text(json.dumps(recs))
    with pytest.raises(DataError) as err:
        NuScenesIndex(world, version, cache_dir=tmp_path / "cache")
    assert Path(err.value.where) == path and err.value.field == "token" and "NUL" in str(err.value)
