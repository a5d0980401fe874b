"""An index over a nuScenes dataroot, built once with the official devkit and cached as JSON.

The index holds everything :func:`sensorfuse.data.load_sample` needs (scenes, samples, sample_data with
their ego poses, calibrations, annotations with the devkit's ``box_velocity``, splits), so loading a
sample needs no devkit and no table scan. The cache lives in ``<cache_dir>/index_<version>.json``
(default ``<dataroot>/.sensorfuse/``, or ``~/.cache/sensorfuse/<hash>/`` when the dataroot is read-only)
and is rebuilt when any table file changes (size or mtime). Never pickle.

A build reads the tables through :func:`sensorfuse.io.tables.load_tables` (every table and reference
checked, errors naming the file, record and field) and hands the checked records to the devkit, which
never parses a table itself. A cache hit skips the checks: the tables it was built from were checked, and
the fingerprint says they have not changed. A cache file that cannot be read or has the wrong shape
(truncated, edited, an older format) is rebuilt, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorfuse.classes import CATEGORY_TO_CLASS
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.io.tables import REQUIRED_TABLES, load_table, load_tables, table_dir
from sensorfuse.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)
#: 2: built from checked tables; annotations with several attribute tokens keep them (``attributes``).
INDEX_FORMAT = 2
#: Tables the devkit loads when their file exists.
OPTIONAL_TABLES = ("lidarseg", "panoptic", "image_annotations")
_INDEX_KEYS = ("scenes", "samples", "sample_data", "calib", "annotations", "splits")


def _fingerprint(tdir: Path) -> dict[str, list[int]]:
    fp = {}
    for name in (*REQUIRED_TABLES, "splits"):
        p = tdir / f"{name}.json"
        if p.is_file():
            st = p.stat()
            fp[name] = [int(st.st_size), int(st.st_mtime_ns)]
    return fp


def _default_cache_dir(dataroot: Path) -> Path:
    local = dataroot / ".sensorfuse"
    if os.access(dataroot, os.W_OK) or (local.is_dir() and os.access(local, os.W_OK)):
        return local
    digest = hashlib.sha1(str(dataroot.resolve()).encode()).hexdigest()[:12]
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sensorfuse" / digest


def open_devkit(
    dataroot: str | Path, version: str, tables: Mapping[str, list[dict[str, Any]]] | None = None
) -> Any:
    """A devkit ``NuScenes`` over checked tables (quiet).

    The devkit's own table loading is replaced by :func:`load_tables` (or the already checked ``tables``),
    so a bad table gives a :class:`DataError` naming the file, record and field. What the devkit still
    asserts on its own (lidarseg label files, ...) becomes a DataError naming the version folder.
    """
    from nuscenes.nuscenes import NuScenes

    root = Path(dataroot)
    tdir = table_dir(root, version)
    checked = dict(tables) if tables is not None else load_tables(root, version, OPTIONAL_TABLES)

    class CheckedNuScenes(NuScenes):  # type: ignore[misc]
        def __load_table__(self, table_name: str) -> list[dict[str, Any]]:
            if table_name not in checked:
                checked[table_name] = load_table(root, version, table_name)
            return checked[table_name]

    try:
        return CheckedNuScenes(version=version, dataroot=str(root), verbose=False)
    except (AssertionError, KeyError, IndexError, ValueError, TypeError, AttributeError, OSError) as e:
        raise DataError(tdir, f"the nuScenes devkit cannot load this version: {type(e).__name__}: {e}") from e


def _pose(rec: dict[str, Any]) -> list[float]:
    return [float(v) for v in (*rec["translation"], *rec["rotation"])]


def _build(nusc: Any) -> dict[str, Any]:
    """Extract the index dict from a loaded devkit ``NuScenes``."""
    calib = {
        r["token"]: {
            "pose": _pose(r),
            "intrinsic": [list(map(float, row)) for row in r["camera_intrinsic"]]
            if r["camera_intrinsic"]
            else None,
        }
        for r in nusc.calibrated_sensor
    }
    poses = {r["token"]: _pose(r) for r in nusc.ego_pose}
    sample_data = {
        r["token"]: {
            "channel": r["channel"],
            "modality": r["sensor_modality"],
            "filename": r["filename"],
            "timestamp": int(r["timestamp"]),
            "is_key_frame": bool(r["is_key_frame"]),
            "prev": r["prev"],
            "next": r["next"],
            "sample": r["sample_token"],
            "calib": r["calibrated_sensor_token"],
            "ego_pose": poses.get(r["ego_pose_token"]),
            "width": int(r.get("width") or 0),
            "height": int(r.get("height") or 0),
        }
        for r in nusc.sample_data
    }
    attributes = {r["token"]: r["name"] for r in nusc.attribute}
    anns = {}
    for a in tqdm(
        nusc.sample_annotation, desc="index: box velocities", disable=len(nusc.sample_annotation) < 20_000
    ):
        with np.errstate(divide="ignore", invalid="ignore"):  # two annotations at one time: no velocity
            vel = nusc.box_velocity(a["token"])
        anns[a["token"]] = {
            "category": a["category_name"],
            "translation": list(map(float, a["translation"])),
            "size": list(map(float, a["size"])),
            "rotation": list(map(float, a["rotation"])),
            "attribute": attributes[a["attribute_tokens"][0]] if a["attribute_tokens"] else "",
            "num_lidar_pts": int(a["num_lidar_pts"]),
            "num_radar_pts": int(a["num_radar_pts"]),
            "velocity": [float(v) if math.isfinite(v) else None for v in vel[:2]],
            "instance": a["instance_token"],
        }
        if len(a["attribute_tokens"]) > 1:  # the detection eval refuses these (check_split)
            anns[a["token"]]["attributes"] = [attributes[t] for t in a["attribute_tokens"]]
    scene_name = {s["token"]: s["name"] for s in nusc.scene}
    samples = {
        s["token"]: {
            "scene": scene_name[s["scene_token"]],
            "timestamp": int(s["timestamp"]),
            "prev": s["prev"],
            "next": s["next"],
            "data": dict(s["data"]),
            "anns": list(s["anns"]),
        }
        for s in nusc.sample
    }
    per_scene: dict[str, list[str]] = {sc["name"]: [] for sc in nusc.scene}
    for t, s in samples.items():
        per_scene[s["scene"]].append(t)
    scenes = {
        sc["name"]: {
            "token": sc["token"],
            "samples": sorted(per_scene[sc["name"]], key=lambda t: samples[t]["timestamp"]),
        }
        for sc in nusc.scene
    }
    return {
        "scenes": scenes,
        "samples": samples,
        "sample_data": sample_data,
        "calib": calib,
        "annotations": anns,
    }


def _build_checked(dataroot: Path, version: str, tdir: Path) -> dict[str, Any]:
    """Check the tables, load them into the devkit, extract the index (with ``splits``)."""
    tables = load_tables(dataroot, version, OPTIONAL_TABLES)
    nusc = open_devkit(dataroot, version, tables)
    try:
        data = _build(nusc)
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as e:  # the checks should prevent
        raise DataError(tdir, f"cannot index these tables: {type(e).__name__}: {e}") from e
    data["splits"] = _splits(dataroot, version, set(data["scenes"]))
    return data


def _splits(dataroot: Path, version: str, scene_names: set[str]) -> dict[str, list[str]]:
    from nuscenes.utils.splits import create_splits_scenes

    out = {k: [s for s in v if s in scene_names] for k, v in create_splits_scenes().items()}
    out = {k: v for k, v in out.items() if v}
    custom = dataroot / version / "splits.json"
    if custom.is_file():
        try:
            data = json.loads(custom.read_bytes())
        except (OSError, ValueError, RecursionError) as e:
            raise DataError(custom, f"not valid JSON ({e})", reason="corrupt") from e
        if not isinstance(data, dict):
            raise DataError(custom, "expected an object {split name: [scene names]}")
        for name, scenes in data.items():
            if not isinstance(scenes, list) or not all(isinstance(s, str) for s in scenes):
                raise DataError(
                    custom, f"split {name!r} is {str(scenes)[:60]}, expected an array of scene names", name
                )
            unknown = [s for s in scenes if s not in scene_names]
            if unknown:
                raise DataError(custom, f"split {name!r} names unknown scenes {unknown[:5]}", name)
            out[name] = list(scenes)
    return out


class NuScenesIndex:
    """Devkit-backed index of one nuScenes version, cached as JSON.

    Attributes:
        dataroot, version: what was indexed.
        scenes: scene name → {"token", "samples": [sample tokens in time order]}.
        samples / sample_data / calib / annotations: token → record (see :func:`_build`).
        splits: split name → scene names present here (devkit ``create_splits_scenes`` + ``splits.json``).
    """

    def __init__(
        self, dataroot: str | Path, version: str, cache_dir: str | Path | None = None, rebuild: bool = False
    ) -> None:
        self.dataroot = Path(dataroot)
        self.version = version
        tdir = table_dir(self.dataroot, version)
        fp = _fingerprint(tdir)
        cdir = Path(cache_dir) if cache_dir is not None else _default_cache_dir(self.dataroot)
        self.cache_path = cdir / f"index_{version}.json"
        data = None if rebuild else self._read_cache(fp)
        if data is None:
            log.info("indexing %s/%s with the nuScenes devkit", self.dataroot, version)
            data = _build_checked(self.dataroot, version, tdir)
            data.update(format=INDEX_FORMAT, version=version, fingerprint=fp)
            try:
                atomic_write_json(self.cache_path, data)
            except OSError as e:  # a read-only cache location is not fatal
                log.warning("could not write the index cache %s: %s", self.cache_path, e)
        self.scenes: dict[str, dict[str, Any]] = data["scenes"]
        self.samples: dict[str, dict[str, Any]] = data["samples"]
        self.sample_data: dict[str, dict[str, Any]] = data["sample_data"]
        self.calib: dict[str, dict[str, Any]] = data["calib"]
        self.annotations: dict[str, dict[str, Any]] = data["annotations"]
        self.splits: dict[str, list[str]] = data["splits"]

    def _read_cache(self, fp: dict[str, list[int]]) -> dict[str, Any] | None:
        """The cached index, or None (rebuild) when absent, stale, or corrupt (warned)."""
        if not self.cache_path.is_file():
            return None
        try:
            data = json.loads(self.cache_path.read_bytes())
        except (OSError, ValueError, RecursionError) as e:
            log.warning("index cache %s is unreadable (%s): rebuilding it", self.cache_path, e)
            return None
        if isinstance(data, dict) and data.get("format") != INDEX_FORMAT:
            log.info("index cache %s has another format: rebuilding it", self.cache_path)
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in _INDEX_KEYS):
            log.warning("index cache %s does not hold an index: rebuilding it", self.cache_path)
            return None
        if data.get("version") != self.version or data.get("fingerprint") != fp:
            log.info("index cache %s is out of date: rebuilding it", self.cache_path)
            return None
        return data

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def channels(self) -> dict[str, str]:
        """Sensor channel → modality, for every channel with sample_data (sorted by channel)."""
        seen: dict[str, str] = {}
        for rec in self.sample_data.values():
            seen.setdefault(rec["channel"], rec["modality"])
        return dict(sorted(seen.items()))

    def scene_tokens(self, scene: str) -> list[str]:
        """Sample tokens of a scene (time order)."""
        if scene not in self.scenes:
            raise DataError(
                self.dataroot / self.version,
                f"no scene named {scene!r} (have {sorted(self.scenes)[:10]}...)",
                "scene",
            )
        return list(self.scenes[scene]["samples"])

    def split_tokens(self, split: str) -> list[str]:
        """Sample tokens of a split (``mini_train``, ``val``, a ``splits.json`` name, or ``all``)."""
        if split == "all":
            return [t for sc in self.scenes for t in self.scenes[sc]["samples"]]
        if split not in self.splits:
            raise DataError(
                self.dataroot / self.version,
                f"unknown split {split!r}; available: {sorted(self.splits)} or 'all'",
                "split",
            )
        return [t for sc in self.splits[split] for t in self.scenes[sc]["samples"]]

    def sample(self, token: str) -> dict[str, Any]:
        if token not in self.samples:
            raise DataError(
                token, f"sample token not found in {self.dataroot / self.version}", "sample_token"
            )
        return self.samples[token]

    def path(self, sd_token: str) -> Path:
        """Absolute path of a sample_data file."""
        return self.dataroot / self.sample_data[sd_token]["filename"]


#: The devkit's official splits and the version suffix its detection eval requires of each.
_EVAL_VERSION = {
    "train": "trainval",
    "val": "trainval",
    "train_detect": "trainval",
    "train_track": "trainval",
    "mini_train": "mini",
    "mini_val": "mini",
    "test": "test",
}


def check_split(index: NuScenesIndex, split: str, *, evaluation: bool = True) -> list[str]:
    """Preflight of a split, before any sample is loaded; returns its sample tokens (time order per scene).

    Always: the split exists in this version (an official split with scenes here, a ``splits.json`` split, or
    ``all`` when not ``evaluation``) and has samples. With ``evaluation`` (what the devkit's
    ``DetectionEval`` will need, checked up front instead of after the inference): an official split's version
    suffix matches (``val`` needs ``v1.0-trainval``; on ``v1.0-mini`` use ``mini_val``); ``splits.json`` does
    not redefine an official name (the devkit would ignore it); every sample has a LIDAR_TOP keyframe; the
    split has annotations, some of them of a detection class with points; none has several attributes.

    Raises:
        ConfigError: the split name does not fit this version (unknown, wrong version, redefined).
        DataError: the split's data cannot be evaluated (no samples, no LIDAR_TOP keyframe, no annotations),
            naming the table file and the record.
    """
    tdir = index.dataroot / index.version
    usable = [
        s
        for s in sorted(index.splits)
        if not evaluation or index.version.endswith(_EVAL_VERSION.get(s, index.version))
    ]
    have = f"splits of {index.version}: {usable or 'none'}" + ("" if evaluation else " or 'all'")
    if split == "all" and not evaluation:
        tokens = index.split_tokens("all")
    else:
        suffix = _EVAL_VERSION.get(split)
        if evaluation and suffix is not None and not index.version.endswith(suffix):
            raise ConfigError(
                f"split {split!r} is an official split of a version ending in {suffix!r}; the devkit does not "
                f"evaluate it on {index.version!r} ({have})"
            )
        if split not in index.splits:
            raise ConfigError(f"unknown split {split!r} in {tdir} ({have})")
        if evaluation and suffix is not None:
            from nuscenes.utils.splits import create_splits_scenes

            official = [s for s in create_splits_scenes()[split] if s in index.scenes]
            if official != index.splits[split]:
                raise ConfigError(
                    f"{tdir / 'splits.json'} redefines the official split {split!r}; the devkit evaluates the "
                    "official scenes and ignores it: give the custom split another name"
                )
        tokens = index.split_tokens(split)
    if not tokens:
        raise DataError(tdir / "sample.json", f"split {split!r} has no samples", "scene_token")
    if evaluation:
        _check_eval_samples(index, split, tokens)
    return tokens


def _check_eval_samples(index: NuScenesIndex, split: str, tokens: list[str]) -> None:
    tdir = index.dataroot / index.version
    anns = []
    for tok in tokens:
        sample = index.samples[tok]
        if "LIDAR_TOP" not in sample["data"]:
            raise DataError(
                tdir / "sample_data.json",
                f"sample {tok!r} of split {split!r} has no LIDAR_TOP keyframe (the eval measures distances from it)",
                "is_key_frame",
            )
        anns += sample["anns"]
    where = tdir / "sample_annotation.json"
    if not anns:
        raise DataError(
            where,
            f"the {len(tokens)} samples of split {split!r} have no annotations: nothing to evaluate against "
            "(a test split without annotations cannot be evaluated locally)",
            "sample_token",
        )
    recs = [(t, index.annotations[t]) for t in anns]
    several = next((t for t, a in recs if "attributes" in a and a["category"] in CATEGORY_TO_CLASS), None)
    if several is not None:
        raise DataError(
            where,
            f"record {several!r}: attribute_tokens name {index.annotations[several]['attributes']}, "
            "expected at most one (the detection eval refuses several)",
            "attribute_tokens",
        )
    if not any(
        a["category"] in CATEGORY_TO_CLASS and a["num_lidar_pts"] + a["num_radar_pts"] > 0 for _, a in recs
    ):
        raise DataError(
            where,
            f"none of the {len(anns)} annotations of split {split!r} is of a detection class with a LiDAR or "
            "radar point: every AP would be 0",
            "num_lidar_pts",
        )
