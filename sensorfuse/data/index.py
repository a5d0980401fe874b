"""An index over a nuScenes dataroot, built once with the official devkit and cached as JSON.

The index holds everything :func:`sensorfuse.data.load_sample` needs (scenes, samples, sample_data with
their ego poses, calibrations, annotations with the devkit's ``box_velocity``, splits), so loading a
sample needs no devkit and no table scan. The cache lives in ``<cache_dir>/index_<version>.json``
(default ``<dataroot>/.sensorfuse/``, or ``~/.cache/sensorfuse/<hash>/`` when the dataroot is read-only)
and is rebuilt when any table file changes (size or mtime). Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sensorfuse.data.tables import REQUIRED_TABLES, table_dir
from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)
INDEX_FORMAT = 1


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


def _open_devkit(dataroot: Path, version: str) -> Any:
    from nuscenes.nuscenes import NuScenes

    tdir = table_dir(dataroot, version)
    for name in REQUIRED_TABLES:
        if not (tdir / f"{name}.json").is_file():
            raise DataError(
                tdir / f"{name}.json", "table file is missing (the devkit needs all 13 tables)", name
            )
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except (AssertionError, KeyError, IndexError, ValueError, json.JSONDecodeError) as e:
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
        vel = nusc.box_velocity(a["token"])
        anns[a["token"]] = {
            "category": a["category_name"],
            "translation": list(map(float, a["translation"])),
            "size": list(map(float, a["size"])),
            "rotation": list(map(float, a["rotation"])),
            "attribute": attributes[a["attribute_tokens"][0]] if a["attribute_tokens"] else "",
            "num_lidar_pts": int(a["num_lidar_pts"]),
            "num_radar_pts": int(a["num_radar_pts"]),
            "velocity": [None if v != v else float(v) for v in vel[:2]],
            "instance": a["instance_token"],
        }
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
    scenes = {}
    for sc in nusc.scene:
        toks = sorted(
            (t for t, s in samples.items() if s["scene"] == sc["name"]), key=lambda t: samples[t]["timestamp"]
        )
        scenes[sc["name"]] = {"token": sc["token"], "samples": toks}
    return {
        "scenes": scenes,
        "samples": samples,
        "sample_data": sample_data,
        "calib": calib,
        "annotations": anns,
    }


def _splits(dataroot: Path, version: str, scene_names: set[str]) -> dict[str, list[str]]:
    from nuscenes.utils.splits import create_splits_scenes

    out = {k: [s for s in v if s in scene_names] for k, v in create_splits_scenes().items()}
    out = {k: v for k, v in out.items() if v}
    custom = dataroot / version / "splits.json"
    if custom.is_file():
        try:
            data = json.loads(custom.read_text())
        except json.JSONDecodeError as e:
            raise DataError(custom, f"not valid JSON ({e})") from e
        if not isinstance(data, dict):
            raise DataError(custom, "expected an object {split name: [scene names]}")
        for name, scenes in data.items():
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
            data = _build(_open_devkit(self.dataroot, version))
            data["splits"] = _splits(self.dataroot, version, set(data["scenes"]))
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
        if not self.cache_path.is_file():
            return None
        try:
            data: dict[str, Any] = json.loads(self.cache_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if (
            data.get("format") != INDEX_FORMAT
            or data.get("version") != self.version
            or data.get("fingerprint") != fp
        ):
            return None
        return data

    def __len__(self) -> int:
        return len(self.samples)

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
