"""Checks of the nuScenes JSON tables before the devkit or the index reads them: errors that name the file.

Only what the devkit (``NuScenes.__init__``, ``box_velocity``, the detection eval) or sensorfuse relies on is
checked. Every failure is a :class:`~sensorfuse.errors.DataError` ``(<table file>, "record <token>: ...
expected ...", <field>)``, reason ``"bad calibration"`` for extrinsics and intrinsics, ``"empty file"`` for a
table without the records a version needs, ``"bad data"`` otherwise.

* :func:`check_table` — one table on its own: a JSON array of objects, unique string tokens, the fields the
  code reads with their JSON types, finite ``translation`` (3) / ``size`` (3, > 0) / ``rotation`` (4, non-zero
  quaternion), integer timestamps in [0, 2^63), a non-empty ``camera_intrinsic`` a finite, non-singular 3x3
  matrix with fx, fy > 0.
* :func:`check_references` — the 13 tables together: every token the devkit or the index dereferences exists,
  every log is in some map's ``log_tokens``, map images exist, cameras have intrinsics, scene names are unique.

Not checked here (each is a per-sensor fault, raised when a sample is loaded and counted under
``on_missing="drop_sensor"``): ``sample_data.prev``/``next`` chains (:func:`sensorfuse.sources.nuscenes.chain.walk_sweeps`),
dangling ``sample_data.ego_pose_token``, sensor files. An empty ``sample_annotation`` table is valid (a test
split ships none); evaluating a split without annotations is refused by
:func:`sensorfuse.sources.nuscenes.index.check_split`.

Cost: linear. Per field, one C-level pass pulls the column out of the records (``map(itemgetter)``) and the
JSON types are checked on the set of types in the column; numbers become one numpy array. Python code runs
per record only on the failure path, to name the first bad record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import chain, compress
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.errors import DataError

# Field kinds.
STR, INT, BOOL, STRS, VEC3, QUAT, SIZE3, INTRINSIC, OPT_INT = (
    "str",
    "int",
    "bool",
    "strs",
    "vec3",
    "quat",
    "size3",
    "intrinsic",
    "opt_int",
)

#: table → field → kind: the fields sensorfuse or the devkit reads.
SCHEMA: dict[str, dict[str, str]] = {
    "category": {"token": STR, "name": STR},
    "attribute": {"token": STR, "name": STR},
    "visibility": {"token": STR},
    "instance": {"token": STR, "category_token": STR},
    "sensor": {"token": STR, "channel": STR, "modality": STR},
    "calibrated_sensor": {
        "token": STR,
        "sensor_token": STR,
        "translation": VEC3,
        "rotation": QUAT,
        "camera_intrinsic": INTRINSIC,
    },
    "ego_pose": {"token": STR, "timestamp": INT, "translation": VEC3, "rotation": QUAT},
    "log": {"token": STR},
    "scene": {"token": STR, "name": STR},
    "sample": {"token": STR, "timestamp": INT, "scene_token": STR, "prev": STR, "next": STR},
    "sample_data": {
        "token": STR,
        "sample_token": STR,
        "ego_pose_token": STR,
        "calibrated_sensor_token": STR,
        "filename": STR,
        "timestamp": INT,
        "is_key_frame": BOOL,
        "prev": STR,
        "next": STR,
        "width": OPT_INT,
        "height": OPT_INT,
    },
    "sample_annotation": {
        "token": STR,
        "sample_token": STR,
        "instance_token": STR,
        "attribute_tokens": STRS,
        "translation": VEC3,
        "size": SIZE3,
        "rotation": QUAT,
        "num_lidar_pts": INT,
        "num_radar_pts": INT,
        "prev": STR,
        "next": STR,
    },
    "map": {"token": STR, "log_tokens": STRS, "filename": STR},
}

#: Tables a version cannot do without (``[]`` is an error); the others may be empty (a test split has no
#: annotations, hence no instances).
NONEMPTY: frozenset[str] = frozenset(
    {"sensor", "calibrated_sensor", "ego_pose", "log", "scene", "sample", "sample_data", "map"}
)

_EXPECTED = {
    STR: "a string",
    INT: "an integer in [0, 2^63)",
    BOOL: "true or false",
    STRS: "an array of strings",
    VEC3: "3 finite numbers",
    QUAT: "4 finite numbers (w, x, y, z) with a non-zero norm",
    SIZE3: "3 finite numbers > 0 (w, l, h in m)",
    INTRINSIC: "[] or a 3x3 matrix of finite numbers, non-singular, with fx, fy > 0",
    OPT_INT: "an integer >= 0 or null",
}
_CALIBRATION = {"calibrated_sensor": ("translation", "rotation", "camera_intrinsic")}
_NUMBER = frozenset({int, float})
_INT64_MAX = 2**63


def _token(records: Sequence[Any], i: int) -> str:
    rec = records[i]
    tok = rec.get("token") if isinstance(rec, dict) else None
    return repr(tok) if isinstance(tok, str) else f"#{i} (no valid token)"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Table:
    """One table's records and path, with the error constructor."""

    def __init__(self, path: Path, name: str, records: list[dict[str, Any]]) -> None:
        self.path, self.name, self.records = path, name, records

    def reason(self, field: str) -> str:
        return "bad calibration" if field in _CALIBRATION.get(self.name, ()) else "bad data"

    def fail(self, i: int, field: str, problem: str) -> DataError:
        return DataError(
            self.path, f"record {_token(self.records, i)}: {problem}", field, reason=self.reason(field)
        )

    def fail_first(
        self, col: Sequence[Any], field: str, ok: Callable[[Any], bool], expected: str
    ) -> DataError:
        """The error for the first value of ``col`` that ``ok`` rejects (the slow path, failures only)."""
        i = next((i for i, v in enumerate(col) if not ok(v)), 0)
        return self.fail(i, field, f"{field} is {_show(col[i])}, expected {expected}")

    def column(self, field: str) -> list[Any]:
        try:
            return list(map(itemgetter(field), self.records))
        except KeyError:
            i = next(i for i, r in enumerate(self.records) if field not in r)
            raise self.fail(
                i,
                field,
                f"no field {field!r}; expected {_EXPECTED[SCHEMA.get(self.name, {}).get(field, STR)]}",
            ) from None


def _is_int(v: Any) -> bool:
    return type(v) is int and 0 <= v < _INT64_MAX


def _nested_ok(v: Any, shape: tuple[int, ...]) -> bool:
    """Whether ``v`` is nested lists of JSON numbers of ``shape`` (slow path only)."""
    if not shape:
        return type(v) in _NUMBER
    return type(v) is list and len(v) == shape[0] and all(_nested_ok(x, shape[1:]) for x in v)


def _numbers(t: _Table, field: str, col: list[Any], shape: tuple[int, ...], expected: str) -> np.ndarray:
    """``col`` (each value nested lists of ``shape``) as a float64 array ``(len(col), *shape)``.

    The JSON types are checked level by level on the set of types and lengths (no per-value Python code
    unless a value is bad); bools and numeric strings are rejected, not converted.
    """
    flat: list[Any] = col
    for n in shape:
        if not set(map(type, flat)) <= {list} or not set(map(len, flat)) <= {n}:
            raise t.fail_first(col, field, lambda v: _nested_ok(v, shape), expected)
        flat = list(chain.from_iterable(flat))
    if not set(map(type, flat)) <= _NUMBER:
        raise t.fail_first(col, field, lambda v: _nested_ok(v, shape), expected)
    try:
        arr = np.array(flat, dtype=np.float64).reshape(len(col), *shape)
    except OverflowError:  # an integer beyond float range
        arr = np.array([float(v) if abs(v) < 1e308 else np.inf for v in flat]).reshape(len(col), *shape)
    finite = np.isfinite(arr).all(axis=tuple(range(1, arr.ndim)))
    if not finite.all():
        i = int(np.argmin(finite))
        raise t.fail(i, field, f"{field} is {_show(col[i])}: not finite (NaN/inf), expected {expected}")
    return arr


def _check_quat(t: _Table, field: str, col: list[Any]) -> None:
    q = _numbers(t, field, col, (4,), _EXPECTED[QUAT])
    bad = np.flatnonzero(np.linalg.norm(q, axis=1) < 1e-6)
    if len(bad):
        i = int(bad[0])
        raise t.fail(i, field, f"{field} is {_show(col[i])}: zero quaternion, expected {_EXPECTED[QUAT]}")


def _check_intrinsic(t: _Table, field: str, col: list[Any]) -> None:
    expected = _EXPECTED[INTRINSIC]
    if not set(map(type, col)) <= {list}:
        raise t.fail_first(col, field, lambda v: type(v) is list, expected)
    rows = [i for i, n in enumerate(map(len, col)) if n]  # cameras; [] elsewhere
    k = _numbers(t, field, [col[i] for i in rows], (3, 3), expected)
    if not len(k):
        return
    scale = np.abs(k).max(axis=(1, 2))
    bad = (k[:, 0, 0] <= 0) | (k[:, 1, 1] <= 0) | (np.abs(np.linalg.det(k)) <= 1e-9 * scale**3)
    if bad.any():
        i = rows[int(np.argmax(bad))]
        raise t.fail(i, field, f"{field} is {_show(col[i])}: singular or fx/fy <= 0, expected {expected}")


def _check_field(t: _Table, field: str, kind: str) -> None:
    col: list[Any] = [r.get(field) for r in t.records] if kind == OPT_INT else t.column(field)
    expected = _EXPECTED[kind]
    types = set(map(type, col))
    if kind == STR:
        if not types <= {str}:
            raise t.fail_first(col, field, lambda v: type(v) is str, expected)
    elif kind == BOOL:
        if not types <= {bool}:
            raise t.fail_first(col, field, lambda v: type(v) is bool, expected)
    elif kind in (INT, OPT_INT):
        ints = col if kind == INT else [v for v in col if v is not None]
        if not set(map(type, ints)) <= {int} or (ints and (min(ints) < 0 or max(ints) >= _INT64_MAX)):
            raise t.fail_first(col, field, lambda v: _is_int(v) or (kind == OPT_INT and v is None), expected)
    elif kind == STRS:
        if not types <= {list} or not set(map(type, chain.from_iterable(col))) <= {str}:
            raise t.fail_first(
                col, field, lambda v: type(v) is list and all(type(x) is str for x in v), expected
            )
    elif kind == VEC3:
        _numbers(t, field, col, (3,), expected)
    elif kind == SIZE3:
        size = _numbers(t, field, col, (3,), expected)
        bad = np.flatnonzero((size <= 0).any(axis=1))
        if len(bad):
            i = int(bad[0])
            raise t.fail(i, field, f"{field} is {_show(col[i])}, expected {expected}")
    elif kind == QUAT:
        _check_quat(t, field, col)
    elif kind == INTRINSIC:
        _check_intrinsic(t, field, col)


def check_table(
    path: Path, name: str, records: Any, fields: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Check one table in isolation (see the module docstring); returns ``records``.

    Args:
        fields: the fields to check (of :data:`SCHEMA`); None: all of the table's. The table is always checked
            to be an array of objects with unique string tokens; tables outside :data:`SCHEMA` (``lidarseg``,
            ``panoptic``, ``image_annotations``) only that way.

    Raises:
        DataError: naming ``path``, the first bad record's token and the field.
    """
    if not isinstance(records, list):
        raise DataError(path, f"expected a JSON array of records, got a JSON {_json_type(records)}", name)
    if not set(map(type, records)) <= {dict}:
        i = next(i for i, r in enumerate(records) if type(r) is not dict)
        raise DataError(
            path, f"record #{i} is a JSON {_json_type(records[i])}, expected an object {{...}}", name
        )
    if not records and name in NONEMPTY:
        raise DataError(
            path,
            f"no records: a nuScenes version needs at least one {name} record",
            name,
            reason="empty file",
        )
    t = _Table(path, name, records)
    kinds = {"token": STR, **SCHEMA.get(name, {})}
    for field in dict.fromkeys(("token", *(kinds if fields is None else fields))):
        _check_field(t, field, kinds[field])
    tokens = t.column("token")
    if len(set(tokens)) != len(tokens):
        dup = next(tok for tok, n in Counter(tokens).items() if n > 1)
        raise t.fail(
            tokens.index(dup),
            "token",
            f"token {dup!r} is used by {tokens.count(dup)} records, expected unique tokens",
        )
    return records


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number"
    )


# (table, field, target table, '' allowed): the references the devkit or the index dereferences.
_REFS: tuple[tuple[str, str, str, bool], ...] = (
    ("instance", "category_token", "category", False),
    ("calibrated_sensor", "sensor_token", "sensor", False),
    ("sample", "scene_token", "scene", False),
    ("sample", "prev", "sample", True),
    ("sample", "next", "sample", True),
    ("sample_data", "sample_token", "sample", False),
    ("sample_data", "calibrated_sensor_token", "calibrated_sensor", False),
    ("sample_annotation", "sample_token", "sample", False),
    ("sample_annotation", "instance_token", "instance", False),
    ("sample_annotation", "prev", "sample_annotation", True),
    ("sample_annotation", "next", "sample_annotation", True),
)


def check_references(tdir: Path, tables: Mapping[str, list[dict[str, Any]]]) -> None:
    """Cross-table checks of tables that passed :func:`check_table` (see the module docstring).

    Args:
        tdir: ``<dataroot>/<version>`` (map image paths are relative to its parent).
        tables: name → records, the 13 tables of :data:`SCHEMA`.

    Raises:
        DataError: naming the table file holding the reference, the record and the field.
    """
    tokens = {name: set(map(itemgetter("token"), recs)) for name, recs in tables.items()}

    def fail(name: str, i: int, field: str, problem: str) -> DataError:
        return _Table(tdir / f"{name}.json", name, tables[name]).fail(i, field, problem)

    for name, field, target, nullable in _REFS:
        recs = tables[name]
        col = list(map(itemgetter(field), recs))
        # the devkit dereferences the sample of key frames only; a sweep's sample_token is not read
        used = (
            map(itemgetter("is_key_frame"), recs)
            if field == "sample_token" and name == "sample_data"
            else None
        )
        bad = set(col if used is None else compress(col, used)) - tokens[target]
        if nullable:
            bad.discard("")
        if bad:
            i = next(i for i, v in enumerate(col) if v in bad and (used is None or recs[i]["is_key_frame"]))
            raise fail(name, i, field, f"{field} {col[i]!r} is not a token of {target}.json")
    attrs = tables["sample_annotation"]
    if not set(chain.from_iterable(map(itemgetter("attribute_tokens"), attrs))) <= tokens["attribute"]:
        i = next(i for i, a in enumerate(attrs) if not set(a["attribute_tokens"]) <= tokens["attribute"])
        raise fail(
            "sample_annotation",
            i,
            "attribute_tokens",
            f"{attrs[i]['attribute_tokens']} name a token not in attribute.json",
        )
    _check_logs_and_maps(tdir, tables, tokens["log"], fail)
    _check_cameras(tdir, tables, fail)
    names = list(map(itemgetter("name"), tables["scene"]))
    if len(set(names)) != len(names):
        dup = next(n for n, c in Counter(names).items() if c > 1)
        raise fail(
            "scene",
            names.index(dup),
            "name",
            f"scene name {dup!r} is used by {names.count(dup)} scenes, expected unique names",
        )


def _check_logs_and_maps(
    tdir: Path,
    tables: Mapping[str, list[dict[str, Any]]],
    logs: set[str],
    fail: Callable[[str, int, str, str], DataError],
) -> None:
    maps = tables["map"]
    listed = set(chain.from_iterable(map(itemgetter("log_tokens"), maps)))
    if not logs <= listed:
        i = next(i for i, r in enumerate(tables["log"]) if r["token"] not in listed)
        raise fail(
            "log",
            i,
            "token",
            "no map record lists this log in its log_tokens (map.json); the devkit needs one",
        )
    for i, m in enumerate(maps):
        if not (tdir.parent / m["filename"]).is_file():
            err = fail("map", i, "filename", f"map image {tdir.parent / m['filename']} does not exist")
            err.reason = "missing file"
            raise err


def _check_cameras(
    tdir: Path, tables: Mapping[str, list[dict[str, Any]]], fail: Callable[[str, int, str, str], DataError]
) -> None:
    cameras = {s["token"] for s in tables["sensor"] if s["modality"] == "camera"}
    for i, cs in enumerate(tables["calibrated_sensor"]):
        if cs["sensor_token"] in cameras and not cs["camera_intrinsic"]:
            raise fail(
                "calibrated_sensor",
                i,
                "camera_intrinsic",
                "a camera calibration needs a 3x3 camera_intrinsic, got []",
            )
