"""The index's tables: how each is encoded into columns (from a loaded devkit) and read back as records.

One place for the schema of :class:`~sensorfuse.sources.nuscenes.index.NuScenesIndex`: :func:`encode` turns the
devkit's tables into the arrays of :mod:`~sensorfuse.sources.nuscenes.columnar`, and :class:`IndexColumns`
rebuilds from them exactly the record dicts that :func:`reference_records` (the index before columns, kept as
the reference) extracts from the devkit:

* ``samples[token]``: ``scene`` (name), ``timestamp``, ``prev``, ``next``, ``data`` {channel: keyframe
  sample_data token}, ``anns`` [annotation tokens];
* ``sample_data[token]``: ``channel``, ``modality``, ``filename``, ``timestamp``, ``is_key_frame``, ``prev``,
  ``next``, ``sample``, ``calib``, ``ego_pose`` (``[tx, ty, tz, qw, qx, qy, qz]`` or None), ``width``,
  ``height``;
* ``calib[token]``: ``pose``, ``intrinsic`` (3x3 or None);
* ``annotations[token]``: ``category``, ``translation``, ``size``, ``rotation``, ``attribute`` (the first or
  ""), ``num_lidar_pts``, ``num_radar_pts``, ``velocity`` ([vx, vy], None where not finite), ``instance``, and
  ``attributes`` when there are several;
* ``scenes[name]``: ``token``, ``samples`` (tokens in time order).

The velocity is the devkit's ``box_velocity`` computed for all annotations at once (:func:`box_velocities`, the
same arithmetic; the tests compare every annotation with the devkit's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorfuse.sources.nuscenes.columnar import (
    Column,
    Keys,
    RecordView,
    encode_lists,
    encode_refs,
    encode_strings,
    smallest_int,
    sort_keys,
    string_at,
)

#: Tables with a key column ``<table>.token`` (scenes are keyed by name).
KEYED = ("scene", "sample", "sample_data", "calib", "annotation", "instance")
#: ``(column, target table)`` of every reference column.
REFS = (
    ("sample.prev", "sample"),
    ("sample.next", "sample"),
    ("sample.data.sd", "sample_data"),
    ("sample.anns", "annotation"),
    ("sample_data.prev", "sample_data"),
    ("sample_data.next", "sample_data"),
    ("sample_data.sample", "sample"),
    ("sample_data.calib", "calib"),
    ("annotation.instance", "instance"),
)
VOCABS = ("channel", "modality", "category", "attribute")
#: Every array of an index folder (``<name>.npy``).
COLUMNS = (
    *(f"{t}.token{x}" for t in KEYED for x in ("", ".order")),
    *(f"{c}{x}" for c, _ in REFS for x in ("", ".extra")),
    "scene.scene_token.bytes", "scene.scene_token.off", "scene.samples", "scene.samples.off",
    "sample.timestamp", "sample.scene", "sample.data.channel", "sample.data.off", "sample.anns.off",
    "sample_data.channel", "sample_data.modality", "sample_data.filename.bytes", "sample_data.filename.off",
    "sample_data.timestamp", "sample_data.is_key_frame", "sample_data.ego_pose", "sample_data.width",
    "sample_data.height",
    "calib.pose", "calib.intrinsic", "calib.has_intrinsic",
    "annotation.category", "annotation.attribute", "annotation.translation", "annotation.size",
    "annotation.rotation", "annotation.num_lidar_pts", "annotation.num_radar_pts", "annotation.velocity",
    "annotation.multi", "annotation.multi.attr", "annotation.multi.off",
)  # fmt: skip
MAX_TIME_DIFF = 1.5  # the devkit's box_velocity default (doubled for a centred difference)


def _pose(rec: dict[str, Any]) -> list[float]:
    return [float(v) for v in (*rec["translation"], *rec["rotation"])]


# -- the reference: the records as the JSON index held them ------------------------------------------------------
def reference_records(nusc: Any) -> dict[str, Any]:
    """The index records extracted record by record from a loaded devkit ``NuScenes`` (what the JSON index
    of format 2 held): the reference the columns are tested against, and the benchmark's baseline."""
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
    for a in nusc.sample_annotation:
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


# -- encoding ----------------------------------------------------------------------------------------------------
#: The table file of each index table.
FILES = {
    "scene": "scene",
    "sample": "sample",
    "sample_data": "sample_data",
    "calib": "calibrated_sensor",
    "annotation": "sample_annotation",
    "instance": "instance",
}


class TableValueError(ValueError):
    """A value the columns cannot hold exactly (a token with a NUL character), naming its table and field."""

    def __init__(self, table: str, field: str, problem: str) -> None:
        super().__init__(problem)
        self.table, self.field = table, field


def box_velocities(
    translation: np.ndarray, times_us: np.ndarray, prev: np.ndarray, nxt: np.ndarray
) -> np.ndarray:
    """The devkit's ``NuScenes.box_velocity`` (x, y, z) of every annotation at once: the difference of the
    ``prev`` and ``next`` boxes (the annotation itself where one is missing) over their sample times, NaN for a
    lone annotation or one whose neighbours are more than 1.5 s apart (3 s for a centred difference).

    Args:
        translation: (N, 3) float64; times_us: (N,) int64 sample timestamps; prev, nxt: (N,) rows (-1: none).
    """
    has_prev, has_next = prev >= 0, nxt >= 0
    cur = np.arange(len(prev))
    first, last = np.where(has_prev, prev, cur), np.where(has_next, nxt, cur)
    seconds = 1e-6 * times_us.astype(np.float64)
    dt = seconds[last] - seconds[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        vel = (translation[last] - translation[first]) / dt[:, None]
    limit = np.where(has_prev & has_next, 2 * MAX_TIME_DIFF, MAX_TIME_DIFF)
    vel[(~has_prev & ~has_next) | (dt > limit)] = np.nan
    return vel


def _vocab(values: list[str]) -> tuple[list[str], np.ndarray]:
    names = sorted(set(values))
    code = {n: i for i, n in enumerate(names)}
    return names, np.array([code[v] for v in values], dtype=np.int16).reshape(len(values))


_WIDTH = {"translation": 3, "rotation": 4, "size": 3}  # checked by the table checks


def _floats(records: list[dict[str, Any]], *fields: str) -> np.ndarray:
    """(N, width) float64 of number-list fields (numpy converts each number as ``float()`` does)."""
    cols = [
        np.array([r[f] for r in records], dtype=np.float64).reshape(len(records), _WIDTH[f]) for f in fields
    ]
    return np.concatenate(cols, axis=1) if len(cols) > 1 else cols[0]


class _Encoder:
    """Builds the arrays table by table; ``rank[table][i]`` is the row of the table file's record ``i``."""

    def __init__(self, tables: Mapping[str, list[dict[str, Any]]]) -> None:
        self.tables = tables
        self.a: dict[str, np.ndarray] = {}
        self.keys: dict[str, Keys] = {}
        self.rank: dict[str, np.ndarray] = {}

    def key(self, table: str, field: str) -> None:
        try:
            arr, rank = sort_keys([r[field] for r in self.tables[table]])
        except ValueError as e:
            raise TableValueError(FILES[table], field, str(e)) from None
        self.a[f"{table}.token"], self.a[f"{table}.token.order"] = arr, smallest_int(rank)
        self.keys[table], self.rank[table] = Keys(arr), rank

    def in_rows(self, table: str, values: Any) -> np.ndarray:
        """Per-record values given in file order, in row (sorted key) order."""
        values = np.asarray(values)
        out = np.empty_like(values)
        out[self.rank[table]] = values
        return out

    def column(self, name: str, values: Any) -> np.ndarray:
        """Store a per-record column given in file order (in row order)."""
        self.a[name] = self.in_rows(name.split(".")[0], values)
        return self.a[name]

    def refs(self, name: str, field: str, tokens: list[str], per_record: bool = True) -> np.ndarray:
        """A reference column (per record in file order, or a list column already in row order)."""
        try:
            codes, self.a[f"{name}.extra"] = encode_refs(tokens, self.keys[dict(REFS)[name]])
        except ValueError as e:
            raise TableValueError(FILES[name.split(".")[0]], field, str(e)) from None
        if per_record:
            return self.column(name, codes)
        self.a[name] = codes
        return codes

    def file_order(self, table: str) -> np.ndarray:
        """The table-file index of each row."""
        return np.argsort(self.rank[table])


def encode(nusc: Any, progress: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The index's columns from a loaded devkit ``NuScenes``: ``(arrays, meta)`` (vocabularies, channels).

    Raises:
        TableValueError: a token the columns cannot hold exactly (it ends in a NUL character).
    """
    tables = {
        "scene": nusc.scene,
        "sample": nusc.sample,
        "sample_data": nusc.sample_data,
        "calib": nusc.calibrated_sensor,
        "annotation": nusc.sample_annotation,
        "instance": nusc.instance,
    }
    enc = _Encoder(tables)
    steps = tqdm(total=len(KEYED) + 4, desc="index: columns", disable=not progress, leave=False)
    for name in KEYED:
        enc.key(name, "name" if name == "scene" else "token")
        steps.update()
    vocab: dict[str, list[str]] = {}
    _encode_samples(nusc, enc)
    steps.update()
    channels = _encode_sample_data(nusc, enc, vocab)
    steps.update()
    _encode_lists(nusc, enc, vocab)
    cs = nusc.calibrated_sensor
    enc.column("calib.pose", _floats(cs, "translation", "rotation"))
    k = np.zeros((len(cs), 3, 3))
    has_k = np.array([bool(r["camera_intrinsic"]) for r in cs], dtype=bool).reshape(len(cs))
    for i in np.flatnonzero(has_k):
        k[i] = [[float(v) for v in row] for row in cs[i]["camera_intrinsic"]]
    enc.column("calib.intrinsic", k)
    enc.column("calib.has_intrinsic", has_k)
    steps.update()
    _encode_annotations(nusc, enc, vocab)
    steps.update()
    steps.close()
    return enc.a, {"vocab": vocab, "channels": channels}


def _encode_samples(nusc: Any, enc: _Encoder) -> None:
    smp = nusc.sample
    enc.a["scene.scene_token.bytes"], enc.a["scene.scene_token.off"] = encode_strings(
        [nusc.scene[i]["token"] for i in enc.file_order("scene")]
    )
    enc.column("sample.timestamp", np.array([int(s["timestamp"]) for s in smp], dtype=np.int64))
    scene_name = {s["token"]: s["name"] for s in nusc.scene}
    enc.column(
        "sample.scene", smallest_int(enc.keys["scene"].rows([scene_name[s["scene_token"]] for s in smp]))
    )
    enc.refs("sample.prev", "prev", [s["prev"] for s in smp])
    enc.refs("sample.next", "next", [s["next"] for s in smp])
    # each scene's samples in time order (a stable sort: ties keep the table order, as sorted() did)
    rows = enc.rank["sample"]  # file order
    srow, stime = enc.a["sample.scene"][rows], enc.a["sample.timestamp"][rows]
    enc.a["scene.samples"] = smallest_int(rows[np.lexsort((stime, srow))])
    counts = np.bincount(srow, minlength=len(nusc.scene))
    enc.a["scene.samples.off"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _encode_sample_data(nusc: Any, enc: _Encoder, vocab: dict[str, list[str]]) -> dict[str, str]:
    sd = nusc.sample_data
    vocab["channel"], channel = _vocab([r["channel"] for r in sd])
    vocab["modality"], modality = _vocab([r["sensor_modality"] for r in sd])
    enc.column("sample_data.channel", channel)
    enc.column("sample_data.modality", modality)
    order = enc.file_order("sample_data")
    enc.a["sample_data.filename.bytes"], enc.a["sample_data.filename.off"] = encode_strings(
        [sd[i]["filename"] for i in order]
    )
    enc.column("sample_data.timestamp", np.array([int(r["timestamp"]) for r in sd], dtype=np.int64))
    enc.column("sample_data.is_key_frame", np.array([bool(r["is_key_frame"]) for r in sd], dtype=bool))
    enc.refs("sample_data.prev", "prev", [r["prev"] for r in sd])
    enc.refs("sample_data.next", "next", [r["next"] for r in sd])
    enc.refs("sample_data.sample", "sample_token", [r["sample_token"] for r in sd])
    enc.refs("sample_data.calib", "calibrated_sensor_token", [r["calibrated_sensor_token"] for r in sd])
    # the ego pose of each record (NaN where its ego_pose_token names no ego_pose: None)
    ego = nusc.ego_pose
    by_token = {r["token"]: i for i, r in enumerate(ego)}
    pose_of = np.array([by_token.get(r["ego_pose_token"], -1) for r in sd], dtype=np.int64).reshape(len(sd))
    poses = np.concatenate(
        [_floats(ego, "translation", "rotation").reshape(len(ego), 7), np.full((1, 7), np.nan)]
    )
    enc.column("sample_data.ego_pose", poses[pose_of])  # -1 picks the NaN row
    for f in ("width", "height"):
        enc.column(f"sample_data.{f}", smallest_int([int(r.get(f) or 0) for r in sd]))
    channels: dict[str, str] = {}
    for r in sd:
        channels.setdefault(r["channel"], r["sensor_modality"])
    return dict(sorted(channels.items()))


def _encode_lists(nusc: Any, enc: _Encoder, vocab: dict[str, list[str]]) -> None:
    """``sample.data`` (channel codes and keyframe references, in the devkit's order) and ``sample.anns``."""
    rows = [nusc.sample[i] for i in enc.file_order("sample")]
    code = {c: i for i, c in enumerate(vocab["channel"])}
    data = [list(s["data"].items()) for s in rows]
    enc.a["sample.data.channel"], enc.a["sample.data.off"] = encode_lists(
        [[code[c] for c, _ in d] for d in data]
    )
    enc.refs("sample.data.sd", "data", [t for d in data for _, t in d], per_record=False)
    _, enc.a["sample.anns.off"] = encode_lists([[0] * len(s["anns"]) for s in rows])
    enc.refs("sample.anns", "anns", [t for s in rows for t in s["anns"]], per_record=False)


def _encode_annotations(nusc: Any, enc: _Encoder, vocab: dict[str, list[str]]) -> None:
    anns = nusc.sample_annotation
    attr_name = {r["token"]: r["name"] for r in nusc.attribute}
    attrs = [[attr_name[t] for t in r["attribute_tokens"]] for r in anns]
    vocab["category"], cat = _vocab([r["category_name"] for r in anns])
    vocab["attribute"], first = _vocab([x[0] if x else "" for x in attrs])
    enc.column("annotation.category", cat)
    enc.column("annotation.attribute", first)
    for f in ("translation", "size", "rotation"):
        enc.column(f"annotation.{f}", _floats(anns, f))
    for f in ("num_lidar_pts", "num_radar_pts"):
        enc.column(f"annotation.{f}", smallest_int([int(r[f]) for r in anns]))
    enc.refs("annotation.instance", "instance_token", [r["instance_token"] for r in anns])
    # several attributes (rare): the rows that have them and their attribute codes
    code = {n: i for i, n in enumerate(vocab["attribute"])}
    rank = enc.rank["annotation"]
    multi = sorted(
        (int(rank[i]), [code.setdefault(n, len(code)) for n in x]) for i, x in enumerate(attrs) if len(x) > 1
    )
    vocab["attribute"] = list(code)
    enc.a["annotation.multi"] = np.array([r for r, _ in multi], dtype=np.int64)
    enc.a["annotation.multi.attr"], enc.a["annotation.multi.off"] = encode_lists([c for _, c in multi])
    # the devkit's box_velocity of every annotation (prev/next/sample references are checked to exist)
    keys = enc.keys["annotation"]
    prev = enc.in_rows("annotation", keys.rows([r["prev"] for r in anns]))
    nxt = enc.in_rows("annotation", keys.rows([r["next"] for r in anns]))
    sample = enc.in_rows("annotation", enc.keys["sample"].rows([r["sample_token"] for r in anns]))
    times = enc.a["sample.timestamp"][np.maximum(sample, 0)]
    vel = box_velocities(enc.a["annotation.translation"], times, prev, nxt)[:, :2]
    vel[~np.isfinite(vel)] = np.nan  # None in the record
    enc.a["annotation.velocity"] = np.ascontiguousarray(vel)


# -- decoding ----------------------------------------------------------------------------------------------------
class _Ref:
    """Reads one reference column back as tokens (see :func:`~sensorfuse.sources.nuscenes.columnar.encode_refs`)."""

    __slots__ = ("codes", "extra", "keys", "n")

    def __init__(self, codes: Column, keys: Column, extra: Column) -> None:
        self.codes, self.keys, self.extra, self.n = codes, keys, extra, len(keys)

    def token(self, code: int) -> str:
        if code < 0:
            return ""
        raw = self.keys.item(code) if code < self.n else self.extra.item(code - self.n)
        return raw.decode("utf-8", "surrogatepass")  # type: ignore[no-any-return]

    def at(self, i: int) -> str:
        return self.token(self.codes.item(i))

    def span(self, lo: int, hi: int) -> list[str]:
        return [self.token(c) for c in self.codes[lo:hi].tolist()]


class IndexColumns:
    """The index's arrays with their record builders and :class:`RecordView` mappings.

    Attributes:
        scenes, samples, sample_data, calib, annotations: the mappings (see the module docstring).
        channels: channel → modality (sorted by channel).
        a: the arrays by name (:data:`COLUMNS`), for vectorised readers; keys: the key column of each table.
        r: the same columns as records read them: ``columns`` (each read by ``pread``, nothing mapped) when
            given, else the arrays.
    """

    def __init__(
        self,
        a: Mapping[str, np.ndarray],
        meta: Mapping[str, Any],
        columns: Mapping[str, Column] | None = None,
    ) -> None:
        self.a, self.meta, self.vocab = a, dict(meta), meta["vocab"]
        self.r: Mapping[str, Column] = a if columns is None else columns
        r = self.r
        self.channels: dict[str, str] = dict(meta["channels"])
        self.keys = {name: Keys(a[f"{name}.token"], r[f"{name}.token"]) for name in KEYED}
        self.ref = {c: _Ref(r[c], r[f"{t}.token"], r[f"{c}.extra"]) for c, t in REFS}

        def view(name: str, record: Callable[[int], dict[str, Any]]) -> RecordView:
            # iteration reads the whole order column (mapped)
            return RecordView(self.keys[name], a[f"{name}.token.order"], record)

        self.scenes = view("scene", self.scene)
        self.samples = view("sample", self.sample)
        self.sample_data = view("sample_data", self.sd)
        self.calib = view("calib", self.calibration)
        self.annotations = view("annotation", self.annotation)

    def span(self, column: str, i: int) -> tuple[int, int]:
        lo, hi = self.r[f"{column}.off"][i : i + 2].tolist()
        return lo, hi

    def filename(self, row: int) -> str:
        return string_at(self.r["sample_data.filename.bytes"], self.r["sample_data.filename.off"], row)

    def scene_sample_rows(self, scene_row: int) -> np.ndarray:
        """Sample rows of a scene (time order); empty for -1."""
        if scene_row < 0:
            return np.zeros(0, dtype=np.int64)
        lo, hi = self.span("scene.samples", scene_row)
        return np.asarray(self.r["scene.samples"][lo:hi], dtype=np.int64)

    def sample_data_of(self, sample_rows: np.ndarray) -> list[str]:
        """Tokens of the sample_data whose ``sample`` is one of ``sample_rows`` (sorted by token)."""
        rows = np.flatnonzero(np.isin(self.a["sample_data.sample"], sample_rows))
        return [b.decode("utf-8", "surrogatepass") for b in self.a["sample_data.token"][rows].tolist()]

    # records
    def scene(self, i: int) -> dict[str, Any]:
        sample = self.keys["sample"]
        return {
            "token": string_at(self.r["scene.scene_token.bytes"], self.r["scene.scene_token.off"], i),
            "samples": [sample[row] for row in self.scene_sample_rows(i).tolist()],
        }

    def sample(self, i: int) -> dict[str, Any]:
        a, ref = self.r, self.ref
        lo, hi = self.span("sample.data", i)
        chans = self.vocab["channel"]
        data = dict(
            zip(
                [chans[c] for c in a["sample.data.channel"][lo:hi].tolist()],
                ref["sample.data.sd"].span(lo, hi),
                strict=True,
            )
        )
        return {
            "scene": self.keys["scene"][a["sample.scene"].item(i)],
            "timestamp": a["sample.timestamp"].item(i),
            "prev": ref["sample.prev"].at(i),
            "next": ref["sample.next"].at(i),
            "data": data,
            "anns": ref["sample.anns"].span(*self.span("sample.anns", i)),
        }

    def sd(self, i: int) -> dict[str, Any]:
        a, ref = self.r, self.ref
        pose = a["sample_data.ego_pose"][i].tolist()
        return {
            "channel": self.vocab["channel"][a["sample_data.channel"].item(i)],
            "modality": self.vocab["modality"][a["sample_data.modality"].item(i)],
            "filename": self.filename(i),
            "timestamp": a["sample_data.timestamp"].item(i),
            "is_key_frame": a["sample_data.is_key_frame"].item(i),
            "prev": ref["sample_data.prev"].at(i),
            "next": ref["sample_data.next"].at(i),
            "sample": ref["sample_data.sample"].at(i),
            "calib": ref["sample_data.calib"].at(i),
            "ego_pose": None if math.isnan(pose[0]) else pose,
            "width": a["sample_data.width"].item(i),
            "height": a["sample_data.height"].item(i),
        }

    def calibration(self, i: int) -> dict[str, Any]:
        a = self.r
        return {
            "pose": a["calib.pose"][i].tolist(),
            "intrinsic": a["calib.intrinsic"][i].tolist() if a["calib.has_intrinsic"].item(i) else None,
        }

    def annotation(self, i: int) -> dict[str, Any]:
        a = self.r
        vel = a["annotation.velocity"][i].tolist()  # NaN: not finite (None)
        rec = {
            "category": self.vocab["category"][a["annotation.category"].item(i)],
            "translation": a["annotation.translation"][i].tolist(),
            "size": a["annotation.size"][i].tolist(),
            "rotation": a["annotation.rotation"][i].tolist(),
            "attribute": self.vocab["attribute"][a["annotation.attribute"].item(i)],
            "num_lidar_pts": a["annotation.num_lidar_pts"].item(i),
            "num_radar_pts": a["annotation.num_radar_pts"].item(i),
            "velocity": [None if math.isnan(v) else v for v in vel],
            "instance": self.ref["annotation.instance"].at(i),
        }
        multi = a["annotation.multi"]
        j = int(multi.searchsorted(i)) if len(multi) else 0
        if j < len(multi) and multi.item(j) == i:
            lo, hi = self.span("annotation.multi", j)
            rec["attributes"] = [self.vocab["attribute"][c] for c in a["annotation.multi.attr"][lo:hi]]
        return rec
