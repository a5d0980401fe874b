"""An index over a nuScenes dataroot, built once with the official devkit and stored as memory-mapped columns.

The index holds everything :func:`sensorfuse.data.load_sample` needs (scenes, samples, sample_data with
their ego poses, calibrations, annotations with the devkit's ``box_velocity``, splits), so loading a
sample needs no devkit and no table scan. It is stored in ``<cache_dir>/index_<version>/`` (default
``<dataroot>/.sensorfuse/``, or ``~/.cache/sensorfuse/<hash>/`` when the dataroot is read-only): one ``.npy``
file per column and ``meta.json`` (:mod:`~sensorfuse.sources.nuscenes.columnar`, the schema in
:mod:`~sensorfuse.sources.nuscenes.index_tables`, the reasons in ``docs/scale.md``). Opening it parses nothing
(milliseconds, whatever the size); records are built from values read with ``pread``, vectorised readers use
the files memory-mapped, and DataLoader workers and torchrun ranks share the pages (the page cache's). It is
rebuilt when any table file changes (size or mtime). Never pickle.

A build reads the tables through :func:`sensorfuse.io.tables.load_tables` (every table and reference
checked, errors naming the file, record and field) and hands the checked records to the devkit, which
never parses a table itself. A cache hit skips the checks: the tables it was built from were checked, and
the fingerprint says they have not changed. A cache that cannot be read or has the wrong shape (truncated,
edited, an older format) is rebuilt, with a warning naming it.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorfuse.classes import CATEGORY_TO_CLASS
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.io.tables import REQUIRED_TABLES, load_table, load_tables, table_dir
from sensorfuse.sources.nuscenes import columnar
from sensorfuse.sources.nuscenes.columnar import RecordView
from sensorfuse.sources.nuscenes.index_tables import (
    COLUMNS,
    FILES,
    VOCABS,
    IndexColumns,
    TableValueError,
    encode,
)

log = logging.getLogger(__name__)
#: 2: built from checked tables; annotations with several attribute tokens keep them (``attributes``).
#: 3: memory-mapped columns in a folder instead of one JSON file.
INDEX_FORMAT = 3
#: Tables the devkit loads when their file exists.
OPTIONAL_TABLES = ("lidarseg", "panoptic", "image_annotations")


def _fingerprint(tdir: Path) -> dict[str, list[int]]:
    fp = {}
    for name in (*REQUIRED_TABLES, "splits"):
        p = tdir / f"{name}.json"
        if p.is_file():
            st = p.stat()
            fp[name] = [int(st.st_size), int(st.st_mtime_ns)]
    return fp


def _meta_problem(meta: Any) -> str:
    """What makes ``meta.json`` not an index's (empty when it is one)."""
    if not isinstance(meta, dict):
        return f"a {type(meta).__name__}, expected an object"
    missing = [k for k in ("vocab", "channels", "splits", "arrays") if not isinstance(meta.get(k), dict)]
    if missing:
        return f"no {missing[0]!r} object"
    vocab = meta["vocab"]
    if not all(isinstance(vocab.get(k), list) and all(isinstance(x, str) for x in vocab[k]) for k in VOCABS):
        return "'vocab' is not lists of names"
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in meta["splits"].values()):
        return "'splits' is not lists of scene names"
    absent = sorted(set(COLUMNS) - set(meta["arrays"]))
    return f"no array {absent[0]!r}" if absent else ""


def _remove_json_cache(cdir: Path, version: str) -> None:
    """Remove the JSON index of format 2 (``index_<version>.json``, about 1 GB for trainval) when there is one."""
    old = cdir / f"index_{version}.json"
    with contextlib.suppress(OSError):
        size = old.stat().st_size
        old.unlink()
        log.info("removed the JSON index cache of an earlier sensorfuse %s (%.1f MB)", old, size / 1e6)


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


def _build_checked(
    dataroot: Path, version: str, tdir: Path, progress: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Check the tables, load them into the devkit, encode the columns; returns ``(arrays, meta)``.

    The garbage collector is paused meanwhile: the build makes millions of records and lists and frees them
    together at the end, and every collection on the way would walk all of them (docs/scale.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(dataroot, version, tdir, progress)
    finally:
        if enabled:
            gc.enable()


def _build(
    dataroot: Path, version: str, tdir: Path, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    seconds = {}
    bar = tqdm(total=3, desc=f"index {version}", disable=not progress)
    t0 = time.perf_counter()
    bar.set_postfix_str("checking the tables")
    tables = load_tables(dataroot, version, OPTIONAL_TABLES)
    seconds["tables"] = time.perf_counter() - t0
    bar.update()
    bar.set_postfix_str("devkit")
    nusc = open_devkit(dataroot, version, tables)
    seconds["devkit"] = time.perf_counter() - t0 - seconds["tables"]
    bar.update()
    bar.set_postfix_str("columns")
    try:
        arrays, meta = encode(nusc, progress)
    except TableValueError as e:
        raise DataError(tdir / f"{e.table}.json", str(e), e.field) from e
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as e:  # the checks should prevent
        raise DataError(tdir, f"cannot index these tables: {type(e).__name__}: {e}") from e
    seconds["columns"] = time.perf_counter() - t0 - seconds["tables"] - seconds["devkit"]
    bar.update()
    bar.close()
    meta["splits"] = _splits(dataroot, version, {sc["name"] for sc in nusc.scene})
    meta["counts"] = {name: len(arrays[f"{name}.token"]) for name in FILES}
    meta["build_seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    return arrays, meta


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
    """Devkit-backed index of one nuScenes version, stored as memory-mapped columns.

    Attributes:
        dataroot, version: what was indexed.
        scenes: scene name → {"token", "samples": [sample tokens in time order]}.
        samples / sample_data / calib / annotations: token → record (read-only mappings that build each record
            on access, see :mod:`~sensorfuse.sources.nuscenes.index_tables`).
        splits: split name → scene names present here (devkit ``create_splits_scenes`` + ``splits.json``).
        channels: sensor channel → modality, for every channel with sample_data (sorted by channel).
        folder, cache_path: the index folder and its ``meta.json``.
        mapped: the arrays are memory-mapped from ``folder`` (False only when it could not be written: then
            they are in this process's memory, and pickling the index copies them).
        columns: the arrays behind the mappings, for vectorised readers.
    """

    scenes: RecordView
    samples: RecordView
    sample_data: RecordView
    calib: RecordView
    annotations: RecordView
    splits: dict[str, list[str]]
    channels: dict[str, str]
    columns: IndexColumns

    def __init__(
        self,
        dataroot: str | Path,
        version: str,
        cache_dir: str | Path | None = None,
        rebuild: bool = False,
        progress: bool = True,
    ) -> None:
        self.dataroot = Path(dataroot)
        self.version = version
        tdir = table_dir(self.dataroot, version)
        fp = _fingerprint(tdir)
        cdir = Path(cache_dir) if cache_dir is not None else _default_cache_dir(self.dataroot)
        self.folder = cdir / f"index_{version}"
        self.cache_path = self.folder / columnar.META
        opened: tuple[dict[str, np.ndarray], dict[str, columnar.FileColumn] | None, dict[str, Any]] | None
        opened = None if rebuild else self._open(fp)
        self.mapped = opened is not None
        if opened is None:
            log.info("indexing %s/%s with the nuScenes devkit", self.dataroot, version)
            big = sum(size for size, _ in fp.values()) > 100e6  # progress bars for trainval-sized tables
            arrays, meta = _build_checked(self.dataroot, version, tdir, progress and big)
            meta.update(format=INDEX_FORMAT, version=version, fingerprint=fp)
            try:
                columnar.save(self.folder, arrays, meta)
            except OSError as e:  # a read-only cache location is not fatal: keep the arrays in memory
                log.warning("could not write the index cache %s: %s", self.folder, e)
            else:
                _remove_json_cache(cdir, version)
                opened = self._open(fp)
                self.mapped = opened is not None
            opened = opened or (arrays, None, meta)
        self._attach(*opened)

    def _attach(
        self,
        arrays: Mapping[str, np.ndarray],
        columns: Mapping[str, columnar.FileColumn] | None,
        meta: Mapping[str, Any],
    ) -> None:
        self.columns = cols = IndexColumns(arrays, meta, columns)
        self.scenes, self.samples, self.sample_data = cols.scenes, cols.samples, cols.sample_data
        self.calib, self.annotations = cols.calib, cols.annotations
        self.splits = {k: list(v) for k, v in meta["splits"].items()}
        self.channels = dict(cols.channels)

    def _open(
        self, fp: dict[str, list[int]]
    ) -> tuple[dict[str, np.ndarray], dict[str, columnar.FileColumn], dict[str, Any]] | None:
        """The stored index ``(arrays, columns, meta)`` (:func:`~sensorfuse.sources.nuscenes.columnar.open_arrays`),
        or None (rebuild) when absent, stale, or corrupt (warned)."""
        if not self.cache_path.is_file():
            return None
        try:
            meta = json.loads(self.cache_path.read_bytes())
        except (OSError, ValueError, RecursionError) as e:
            log.warning("index cache %s is unreadable (%s): rebuilding it", self.cache_path, e)
            return None
        if isinstance(meta, dict) and meta.get("format") != INDEX_FORMAT:
            log.info("index cache %s has another format: rebuilding it", self.cache_path)
            return None
        problem = _meta_problem(meta)
        if problem:
            log.warning("index cache %s does not hold an index (%s): rebuilding it", self.cache_path, problem)
            return None
        if meta.get("version") != self.version or meta.get("fingerprint") != fp:
            log.info("index cache %s is out of date: rebuilding it", self.cache_path)
            return None
        try:
            arrays, columns = columnar.open_arrays(self.folder, meta["arrays"])
        except ValueError as e:
            log.warning("index cache %s does not hold an index (%s): rebuilding it", self.cache_path, e)
            return None
        return arrays, columns, meta

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to a spawned worker): the folder is mapped again there, not copied."""
        state = {
            k: v
            for k, v in self.__dict__.items()
            if k in ("dataroot", "version", "folder", "cache_path", "mapped")
        }
        if not self.mapped:  # the cache could not be written: the arrays themselves
            state["arrays"] = dict(self.columns.a)
        state["meta"] = self.columns.meta
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        meta = state.pop("meta")
        arrays = state.pop("arrays", None)
        self.__dict__.update(state)
        if arrays is None:
            self._attach(*columnar.open_arrays(self.folder, meta["arrays"]), meta)
        else:
            self._attach(arrays, None, meta)

    def __len__(self) -> int:
        return len(self.samples)

    def scene_sample_data(self, scene: str) -> list[str]:
        """Tokens of every sample_data (keyframes and sweeps) whose sample is in ``scene`` (sorted by token)."""
        rows = self.columns.scene_sample_rows(self.scenes.row(scene))
        return self.columns.sample_data_of(rows)

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
        try:
            return self.samples[token]
        except KeyError:
            raise DataError(
                token, f"sample token not found in {self.dataroot / self.version}", "sample_token"
            ) from None

    def path(self, sd_token: str) -> Path:
        """Absolute path of a sample_data file (KeyError for an unknown token)."""
        row = self.sample_data.row(sd_token)
        if row < 0:
            raise KeyError(sd_token)
        return self.dataroot / self.columns.filename(row)


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
    """The evaluation checks of :func:`check_split` on the index's columns (one pass over arrays, not a record
    dict per annotation: a val split of trainval has about 200k annotations)."""
    tdir = index.dataroot / index.version
    cols, a = index.columns, index.columns.a
    rows = cols.keys["sample"].rows(tokens)
    lidar = cols.vocab["channel"].index("LIDAR_TOP") if "LIDAR_TOP" in cols.vocab["channel"] else -1
    for tok, row in zip(tokens, rows.tolist(), strict=True):
        lo, hi = cols.span("sample.data", row)
        if lidar not in a["sample.data.channel"][lo:hi]:
            raise DataError(
                tdir / "sample_data.json",
                f"sample {tok!r} of split {split!r} has no LIDAR_TOP keyframe (the eval measures distances from it)",
                "is_key_frame",
            )
    off = a["sample.anns.off"]
    anns = np.concatenate([np.zeros(0, np.int64), *(a["sample.anns"][off[r] : off[r + 1]] for r in rows)])
    where = tdir / "sample_annotation.json"
    if not len(anns):
        raise DataError(
            where,
            f"the {len(tokens)} samples of split {split!r} have no annotations: nothing to evaluate against "
            "(a test split without annotations cannot be evaluated locally)",
            "sample_token",
        )
    detection = np.array([c in CATEGORY_TO_CLASS for c in cols.vocab["category"]], dtype=bool)
    det = detection[a["annotation.category"][anns]]
    several = anns[det & np.isin(anns, a["annotation.multi"])]
    if len(several):
        tok = cols.keys["annotation"][int(several[0])]
        raise DataError(
            where,
            f"record {tok!r}: attribute_tokens name {index.annotations[tok]['attributes']}, "
            "expected at most one (the detection eval refuses several)",
            "attribute_tokens",
        )
    points = a["annotation.num_lidar_pts"][anns].astype(np.int64) + a["annotation.num_radar_pts"][anns]
    if not (det & (points > 0)).any():
        raise DataError(
            where,
            f"none of the {len(anns)} annotations of split {split!r} is of a detection class with a LiDAR or "
            "radar point: every AP would be 0",
            "num_lidar_pts",
        )
