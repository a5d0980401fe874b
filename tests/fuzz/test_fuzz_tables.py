"""Fuzzing the nuScenes tables: hypothesis mutates a valid table folder; only success or a named error may come.

The base is the tiny synthetic world's 13 tables (``synth_world``). Each example applies one to three
mutations (delete a key or a record, change a value's type, swap object/array, zero a quaternion, NaN/inf,
huge numbers, truncate the JSON bytes, duplicate a token, dangle a reference, break a prev/next chain) and
writes the changed tables into a fresh folder (unchanged tables and sensor files are symlinked).

* :func:`test_fuzz_table_checks` runs the checks alone (:func:`load_tables`, milliseconds per input): an
  input is accepted or refused with a :class:`DataError` naming a table file of the folder.
* :func:`test_fuzz_index_build` builds the whole index (the devkit included, a fresh cache) for a quarter as
  many inputs, then walks what a command would: every split (:func:`check_split`), every LIDAR_TOP sweep
  chain, and one sample with ``on_missing="drop_sensor"``. Only :class:`SensorfuseError` may escape, and a
  build error must name a table file (an error naming only the folder means a check is missing).
* :func:`test_fuzz_index_cache` corrupts the index cache: it must be rebuilt (or used, when still whole).

``SENSORFUSE_FUZZ_EXAMPLES`` sets the budget (:mod:`fuzz_budget`); ``make fuzz`` runs a long campaign.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fuzz_budget import EXAMPLES, FUZZ
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.data.accounting import reason_of
from sensorfuse.errors import DataError, SensorfuseError
from sensorfuse.io.tables import REQUIRED_TABLES, load_tables
from sensorfuse.sources.nuscenes.chain import global_from_sensor, walk_sweeps
from sensorfuse.sources.nuscenes.index import check_split

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, 10**400, 2**63, 1.5, 0.0, -0.0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
OPS = (
    "delete_key",
    "set_value",
    "set_element",
    "resize_list",
    "zero_quaternion",
    "nan_vector",
    "delete_record",
    "duplicate_token",
    "dangle_reference",
    "reference_other_table",
    "record_to_array",
    "table_to_object",
    "empty_table",
    "truncate_bytes",
    "swap_prev_next",
    "break_lidar_chain",
)
MUTATION = st.tuples(
    st.sampled_from(REQUIRED_TABLES),
    st.sampled_from(OPS),
    st.integers(0, 1 << 20),  # record
    st.integers(0, 64),  # key
    st.integers(0, 1 << 20),  # element / other record / byte offset
    JSON_VALUES,
)
MUTATIONS = st.lists(MUTATION, min_size=1, max_size=3)
QUATERNIONS = ("rotation",)
REFERENCE = ("_token", "prev", "next")


@dataclass(frozen=True)
class Base:
    """The valid world mutated: its dataroot, version, and each table's JSON text and records (read-only)."""

    root: Path
    version: str
    text: dict[str, str] = field(repr=False)
    records: dict[str, list[dict[str, Any]]] = field(repr=False)


@pytest.fixture(scope="module")
def base(synth_world: tuple[Path, str]) -> Base:
    root, version = synth_world
    text = {n: (root / version / f"{n}.json").read_text() for n in REQUIRED_TABLES}
    return Base(root, version, text, {n: json.loads(t) for n, t in text.items()})


def _mutate(base: Base, tables: dict[str, Any], raw: dict[str, bytes], m: tuple[Any, ...]) -> None:
    """Apply one mutation to ``tables`` in place (``raw`` receives tables replaced by bytes)."""
    name, op, i, k, j, value = m
    recs = tables[name]
    if op == "truncate_bytes":
        data = raw.get(name) or json.dumps(recs).encode()
        raw[name] = data[: j % max(len(data), 1)]
        return
    if op == "table_to_object":
        tables[name] = recs[i % len(recs)] if isinstance(recs, list) and recs else {"records": recs}
        return
    if op == "empty_table":
        tables[name] = []
        return
    if op == "break_lidar_chain":  # aimed at the sweeps that load_sample walks
        sd = tables.setdefault("sample_data", json.loads(base.text["sample_data"]))
        lidar = [r for r in sd if isinstance(r, dict) and "LIDAR_TOP" in str(r.get("filename"))]
        if lidar:
            rec = lidar[i % len(lidar)]
            rec["prev"] = [f"dangling-{j}", rec.get("token"), rec.get("next"), ""][j % 4]
        return
    if not isinstance(recs, list) or not recs:
        return
    i %= len(recs)
    rec = recs[i]
    if not isinstance(rec, dict) or not rec:
        return
    keys = sorted(rec)
    key = keys[k % len(keys)]
    if op == "delete_key":
        del rec[key]
    elif op == "set_value":
        rec[key] = value
    elif op == "set_element" and isinstance(rec[key], list) and rec[key]:
        target = rec[key]
        if isinstance(target[0], list) and target[0]:  # a matrix row
            target = target[j % len(target)]
        target[j % len(target)] = value
    elif op == "resize_list" and isinstance(rec[key], list):
        rec[key] = rec[key][:-1] if j % 2 else [*rec[key], value]
    elif op == "zero_quaternion" and "rotation" in rec:
        rec["rotation"] = [0, 0, 0, 0]
    elif op == "nan_vector":
        vec = next((f for f in ("translation", "size", "rotation") if f in rec), None)
        if vec and isinstance(rec[vec], list) and rec[vec]:
            rec[vec][j % len(rec[vec])] = [float("nan"), float("inf"), -float("inf")][j % 3]
    elif op == "delete_record":
        del recs[i]
    elif op == "duplicate_token":
        if j % 2:
            recs.append(dict(rec))
        elif isinstance(recs[j % len(recs)], dict):
            recs[j % len(recs)]["token"] = rec.get("token")
    elif op in ("dangle_reference", "reference_other_table"):
        refs = [f for f in keys if f.endswith(REFERENCE)]
        if refs:
            other_name = REQUIRED_TABLES[j % len(REQUIRED_TABLES)]
            other = tables.get(other_name, base.records[other_name])
            tok = ""
            if op == "reference_other_table" and isinstance(other, list) and other:
                tok = (
                    other[j % len(other)].get("token", "") if isinstance(other[j % len(other)], dict) else ""
                )
            rec[refs[k % len(refs)]] = tok or ("" if j % 5 == 0 else f"dangling-{j}")
    elif op == "swap_prev_next" and "prev" in rec and "next" in rec:
        rec["prev"], rec["next"] = rec["next"], rec["prev"]
    elif op == "record_to_array":
        recs[i] = list(rec.values())


def _write(base: Base, mutations: list[tuple[Any, ...]], out: Path) -> Path:
    """A dataroot in ``out``: mutated tables written, the others and the sensor folders symlinked."""
    src, version = base.root, base.version
    tables = {n: json.loads(base.text[n]) for n in {m[0] for m in mutations}}
    raw: dict[str, bytes] = {}
    for m in mutations:
        _mutate(base, tables, raw, m)
    (out / version).mkdir(parents=True)
    for sub in ("maps", "samples", "sweeps"):
        (out / sub).symlink_to(src / sub)
    for name in REQUIRED_TABLES:
        path = out / version / f"{name}.json"
        if name in raw:
            path.write_bytes(raw[name])
        elif name in tables:
            path.write_text(json.dumps(tables[name]))
        else:
            path.symlink_to(src / version / f"{name}.json")
    return out


def _names_a_table(e: DataError, root: Path, version: str) -> bool:
    return Path(e.where).parent == root / version and e.where.endswith(".json")


@FUZZ
@given(mutations=MUTATIONS)
def test_fuzz_table_checks(base: Base, mutations: list[tuple[Any, ...]]) -> None:
    """class: tracebacks where a sentence belongs — the table checks accept or name the table file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(base, mutations, Path(tmp) / "w")
        try:
            load_tables(root, base.version)
            event("accepted")
        except DataError as e:
            assert _names_a_table(e, root, base.version), f"{mutations}: {e}"
            event(f"refused: {Path(e.where).name} [{e.field}] ({e.reason})")


@settings(FUZZ, max_examples=max(5, EXAMPLES // 4))
@given(mutations=MUTATIONS)
def test_fuzz_index_build(base: Base, mutations: list[tuple[Any, ...]]) -> None:
    """class: tracebacks where a sentence belongs — building and using the index gives a result or a
    SensorfuseError, never a devkit/numpy traceback; a build error names a table file."""
    version = base.version
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(base, mutations, Path(tmp) / "w")
        try:
            index = NuScenesIndex(root, version, cache_dir=Path(tmp) / "cache")
        except DataError as e:
            assert _names_a_table(e, root, version), f"{mutations}: {e}"
            event("build refused")
            return
        event("built")
        for split in [*index.splits, "all"]:
            for evaluation in (False, True):
                with contextlib.suppress(SensorfuseError):
                    check_split(index, split, evaluation=evaluation)
        walked, load = set(), list(index.samples)[:1]
        for token, sample in index.samples.items():
            if "LIDAR_TOP" not in sample["data"]:
                continue
            try:
                for tok in walk_sweeps(index, sample["data"]["LIDAR_TOP"], 3):
                    global_from_sensor(index, tok)
                walked.add("whole")
            except DataError as e:
                walked.add(e.reason)
                load = [token]  # load a sample whose sweeps are broken
        event(f"LIDAR_TOP sweep chains: {sorted(walked)}")
        cfg = SampleConfig(
            lidar_sweeps=3,
            radar_sweeps=1,
            radars=("RADAR_FRONT",),
            cameras=("CAM_FRONT",),
            on_missing="drop_sensor",
        )
        for token in load:
            try:
                s = load_sample(index, token, cfg)
                dropped = sorted(f"{c} ({reason_of(v)})" for c, v in s.meta.missing.items())
                event(f"sample loaded, dropped: {dropped or 'none'}")
            except SensorfuseError as e:
                event(f"sample refused: {type(e).__name__}")


@pytest.fixture(scope="module")
def fresh(base: Base, tmp_path_factory: pytest.TempPathFactory) -> NuScenesIndex:
    """The base world's index, built into a cache of its own."""
    return NuScenesIndex(base.root, base.version, cache_dir=tmp_path_factory.mktemp("cache"))


@settings(FUZZ, max_examples=max(5, EXAMPLES // 4))
@given(
    cut=st.floats(0, 1),
    part=st.sampled_from(["", "scenes", "samples", "sample_data", "splits", "fingerprint"]),
    value=JSON_SCALARS,
)
def test_fuzz_index_cache(base: Base, fresh: NuScenesIndex, cut: float, part: str, value: Any) -> None:
    """class: tracebacks where a sentence belongs — a truncated cache, or one whose parts are not an index,
    is rebuilt (the index equals a fresh build)."""
    data = fresh.cache_path.read_bytes()
    if part:
        data = json.dumps({**json.loads(data), part: value}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / fresh.cache_path.name
        cache.write_bytes(data[: max(1, int(cut * len(data)))] if cut < 1 else data)
        again = NuScenesIndex(base.root, base.version, cache_dir=tmp)
        assert again.samples == fresh.samples and again.sample_data == fresh.sample_data
