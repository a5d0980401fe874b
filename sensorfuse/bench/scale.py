"""Scale benchmark: the index and the DataLoader on trainval-sized tables (issue 27).

``python -m sensorfuse.bench.scale --dataroot D --version V --out FILE.json`` measures, each step in a fresh
process (``spawn``), on one dataroot:

* **build**: :class:`NuScenesIndex` built from the tables (checks + devkit + columns), wall time per stage and
  peak RSS; the index's size on disk (per table) beside the tables' JSON size;
* **load**: opening the built index in a fresh process (median of 3), whether the devkit was imported, and
  the time of one record lookup (10,000 random sample_data tokens);
* **first batch**: index open → ``FusionDataset(split="train")`` → the first batch of a shuffled 4-worker
  ``DataLoader`` (full samples: LiDAR 10 sweeps, 5 radars x 6, 6 cameras at 256x704, GT), and apart from it
  the file preflight ``sensorfuse train`` runs first (:func:`~sensorfuse.data.preflight.scan_files`);
* **worker memory**: RSS and PSS (``/proc/PID/smaps_rollup``; RssAnon/RssFile from ``/proc/PID/status``) of
  each of the 4 workers when it starts, once warm (after its first item: imports and Numba kernels loaded),
  half way and after one shuffled pass over the whole train split; the growth is counted from warm to the
  end, and growth that goes on in the second half (a leak, not a warm-up) is shown apart. ``--item
  index`` (the default) loads each sample through the real assembly (``load_sample``: sync checks, sweep
  chains, poses, ground truth) with payload reads replaced by one-point clouds and an 16x9 image, so that the
  pass measures the index, not the decoders; ``--item full`` loads full samples;
* **throughput**: samples/s of one worker (= per core) over ``--samples`` shuffled train samples, full
  samples and index items.

``--json-baseline`` measures the same for the index as it was before (format 2: every record a dict,
stored as one JSON file), from :func:`~sensorfuse.sources.nuscenes.index_tables.reference_records`.
``python -m sensorfuse.bench.scale --table A.json B.json ...`` prints how the figures grow with the world;
``--compare D1 D2 ... --out FILE`` measures the throughput per core of several worlds in interleaved rounds.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
#: smaps_rollup fields reported (kB)
SMAPS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Private_Clean", "Private_Dirty", "Anonymous")
STATUS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def memory(pid: int | str = "self") -> dict[str, int]:
    """kB of one process: :data:`SMAPS` from ``/proc/PID/smaps_rollup`` and :data:`STATUS` from ``status``."""
    out: dict[str, int] = {}
    for name, fields in (("smaps_rollup", SMAPS), ("status", STATUS)):
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in fields:
                out[key] = int(rest.split()[0])
    return out


def _child(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a fresh interpreter (spawn): no state of this process leaks into a measurement. Its
    DataLoader workers fork, as in training on Linux (a spawned process would spawn them too)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_fork_workers) as pool:
        return pool.submit(fn, *args).result()


def _fork_workers() -> None:
    import multiprocessing

    multiprocessing.set_start_method("fork", force=True)


# -- datasets --------------------------------------------------------------------------------------------------
def _index_only_drive(index: Any) -> Any:
    """A :class:`NuScenesDrive` whose payload reads return a 1-point cloud or a 16x9 image: the assembly,
    sweep walks, poses and ground truth run as in training, without reading or decoding files."""
    from sensorfuse.sources.base import CameraImage
    from sensorfuse.sources.nuscenes.drive import NuScenesDrive

    class IndexOnlyDrive(NuScenesDrive):
        def read_lidar(self, msg: Any) -> np.ndarray:
            return np.array([[10.0, 0.0, 0.0, 1.0, 0.0]], dtype=np.float32)

        def read_radar(self, msg: Any) -> np.ndarray:
            return np.array([[10.0, 0.0, 0.0, 1.0, 0.0, 5.0]], dtype=np.float32)

        def read_camera(self, msg: Any) -> CameraImage:
            rec = self.index.sample_data[msg.token]
            k = np.asarray(self.index.calib[rec["calib"]]["intrinsic"], np.float64)
            return CameraImage(None, np.zeros((9, 16, 3), np.uint8), k, (16, 9), msg.filename)

    return IndexOnlyDrive(index)


class IndexItems:
    """Samples loaded through the index with 1-point payloads (see :func:`_index_only_drive`); an item is
    ``(points, boxes)`` counts, so that almost nothing travels back to the main process."""

    def __init__(self, index: Any, tokens: list[str]) -> None:
        from sensorfuse.data.config import SampleConfig

        self.index, self.tokens = index, tokens
        self.cfg = SampleConfig(image_size=(8, 8))
        self.drive = _index_only_drive(index)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> tuple[int, int]:
        from sensorfuse.data.sample import load_sample

        s = load_sample(self.index, self.tokens[i], self.cfg, self.drive)
        return (len(s.lidar.points) if s.lidar is not None else 0, len(s.gt.boxes) if s.gt is not None else 0)


class JsonIndex:
    """The format-2 index (every record a dict, one JSON file), for the baseline: the methods that sample
    loading uses, as the format-2 ``NuScenesIndex`` had them."""

    def __init__(self, path: Path, dataroot: Path, version: str) -> None:
        data = json.loads(path.read_bytes())
        self.dataroot, self.version = dataroot, version
        self.scenes, self.samples = data["scenes"], data["samples"]
        self.sample_data, self.calib, self.annotations = (
            data["sample_data"],
            data["calib"],
            data["annotations"],
        )
        self.splits = data["splits"]
        seen: dict[str, str] = {}
        for rec in self.sample_data.values():
            seen.setdefault(rec["channel"], rec["modality"])
        self.channels = dict(sorted(seen.items()))

    def __len__(self) -> int:
        return len(self.samples)

    def scene_tokens(self, scene: str) -> list[str]:
        return list(self.scenes[scene]["samples"])

    def split_tokens(self, split: str) -> list[str]:
        names = list(self.scenes) if split == "all" else self.splits[split]
        return [t for sc in names for t in self.scenes[sc]["samples"]]

    def sample(self, token: str) -> dict[str, Any]:
        return dict(self.samples[token])

    def path(self, sd_token: str) -> Path:
        return self.dataroot / self.sample_data[sd_token]["filename"]


def _open(root: str, version: str, cache: str | None, kind: str) -> Any:
    from sensorfuse.sources.nuscenes.index import NuScenesIndex

    if kind == "json":
        return JsonIndex(Path(str(cache)) / f"index_{version}.json", Path(root), version)
    return NuScenesIndex(root, version, cache_dir=cache, progress=False)


def _shuffled(tokens: list[str], seed: int = 0) -> list[str]:
    tokens = list(tokens)
    random.Random(seed).shuffle(tokens)
    return tokens


# -- steps (each in a fresh process) ----------------------------------------------------------------------------
def step_build(root: str, version: str, cache: str) -> dict[str, Any]:
    from sensorfuse.sources.nuscenes.columnar import size_on_disk
    from sensorfuse.sources.nuscenes.index import NuScenesIndex

    t0 = time.perf_counter()
    index = NuScenesIndex(root, version, cache_dir=cache, rebuild=True)
    seconds = time.perf_counter() - t0
    per_table: dict[str, int] = {}
    for p in index.folder.glob("*.npy"):
        per_table[p.name.split(".")[0]] = per_table.get(p.name.split(".")[0], 0) + p.stat().st_size
    return {
        "seconds": round(seconds, 2),
        "stages_s": index.columns.meta["build_seconds"],
        "peak_rss_mb": round(memory()["VmHWM"] / 1024, 1),
        "size_mb": round(size_on_disk(index.folder) / 1e6, 1),
        "size_per_table_mb": {k: round(v / 1e6, 1) for k, v in sorted(per_table.items())},
        "records": index.columns.meta["counts"],
    }


def step_json_build(root: str, version: str, cache: str) -> dict[str, Any]:
    """The format-2 build: checked tables → devkit → a dict per record → one JSON file."""
    from sensorfuse.io.tables import load_tables
    from sensorfuse.sources.nuscenes.index import OPTIONAL_TABLES, _splits, open_devkit
    from sensorfuse.sources.nuscenes.index_tables import reference_records
    from sensorfuse.utils.atomic import atomic_write_json

    t0 = time.perf_counter()
    nusc = open_devkit(root, version, load_tables(root, version, OPTIONAL_TABLES))
    data = reference_records(nusc)
    data["splits"] = _splits(Path(root), version, set(data["scenes"]))
    path = Path(cache) / f"index_{version}.json"
    atomic_write_json(path, data)
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mb": round(memory()["VmHWM"] / 1024, 1),
        "size_mb": round(path.stat().st_size / 1e6, 1),
    }


def step_load(root: str, version: str, cache: str, kind: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    import sensorfuse.sources.nuscenes.index  # noqa: F401

    imported = time.perf_counter() - t0
    rss0 = memory()["VmRSS"]
    t0 = time.perf_counter()
    index = _open(root, version, cache, kind)
    opened = time.perf_counter() - t0
    rss1 = memory()["VmRSS"]
    tokens = list(index.sample_data) if kind == "json" else None
    rng = np.random.default_rng(0)
    if tokens is None:
        keys = index.columns.keys["sample_data"]
        tokens = [keys[int(i)] for i in rng.integers(0, len(keys), 10_000)]
    else:
        tokens = [tokens[int(i)] for i in rng.integers(0, len(tokens), 10_000)]
    t0 = time.perf_counter()
    for t in tokens:
        index.sample_data[t]
    lookup = (time.perf_counter() - t0) / len(tokens)
    return {
        "import_s": round(imported, 3),
        "open_s": round(opened, 3),
        "rss_after_open_mb": round(rss1 / 1024, 1),
        "rss_growth_open_mb": round((rss1 - rss0) / 1024, 1),
        "devkit_imported": "nuscenes" in sys.modules,
        "sample_data_lookup_us": round(lookup * 1e6, 2),
    }


def step_first_batch(root: str, version: str, cache: str, workers: int, batch: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from sensorfuse.data import FusionDataset, SampleConfig
    from sensorfuse.data.preflight import scan_files
    from sensorfuse.structures import collate

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    index = _open(root, version, cache, "columns")
    t_open = time.perf_counter()
    ds = FusionDataset(index, "train", SampleConfig())
    t_ds = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(
        ds, batch_size=batch, shuffle=True, generator=g, num_workers=workers, collate_fn=collate
    )
    next(iter(loader))
    t_batch = time.perf_counter()
    scan_files(index, ds.tokens, ds.cfg, progress=False)
    t_scan = time.perf_counter()
    return {
        "open_s": round(t_open - t0, 3),
        "dataset_s": round(t_ds - t_open, 3),
        "first_batch_s": round(t_batch - t_ds, 3),
        "total_s": round(t_batch - t0, 3),
        "preflight_s": round(t_scan - t_batch, 3),
        "train_samples": len(ds),
    }


def _worker_start(folder: str, worker_id: int) -> None:
    mem = memory()
    Path(folder, f"worker{worker_id}.json").write_text(json.dumps({"pid": os.getpid(), "start": mem}))


def _worker_pid(folder: str, worker_id: int) -> int:
    """The pid of a worker that has started (0 when it has not yet)."""
    path = Path(folder, f"worker{worker_id}.json")
    return int(json.loads(path.read_text())["pid"]) if path.is_file() else 0


class _WarmMark:
    """A dataset wrapper: the first item a worker has loaded writes its memory then (``warm``: its imports
    done, its Numba kernels loaded), so that the growth over the pass is told from the cost of starting."""

    def __init__(self, dataset: Any, folder: str) -> None:
        self.dataset, self.folder, self.warm = dataset, folder, False

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if not self.warm:  # this worker's copy (forked) of the flag
            from torch.utils.data import get_worker_info

            self.warm = True
            info = get_worker_info()
            if info is not None:
                Path(self.folder, f"worker{info.id}.warm.json").write_text(json.dumps(memory()))
        return item


def measure_pass(dataset: Any, workers: int, batch: int, collate: Any, count: Any) -> dict[str, Any]:
    """One shuffled pass over ``dataset`` with ``workers`` persistent (forked) workers: samples, seconds, and
    each worker's memory at start, warm, half way and at the end (``count(batch)``: samples in a batch)."""
    import torch
    from torch.utils.data import DataLoader

    with tempfile.TemporaryDirectory(prefix="sensorfuse-scale-") as tmp:
        marked: Any = _WarmMark(dataset, tmp)  # a map-style dataset (len + getitem)
        loader: DataLoader[Any] = DataLoader(
            marked, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0),
            num_workers=workers, persistent_workers=True, worker_init_fn=functools.partial(_worker_start, tmp),
            collate_fn=collate,
        )  # fmt: skip
        t0 = time.perf_counter()
        n = 0
        mid: dict[int, dict[str, int]] = {}
        for b in loader:
            n += count(b)
            if not mid and n >= len(dataset) // 2:  # half way: growth that goes on after it is a leak
                mid = {w: memory(pid) for w in range(workers) if (pid := _worker_pid(tmp, w))}
        seconds = time.perf_counter() - t0
        out = []
        for w in range(workers):
            rec = json.loads(Path(tmp, f"worker{w}.json").read_text())
            warm = Path(tmp, f"worker{w}.warm.json")
            rec["warm"] = json.loads(warm.read_text()) if warm.is_file() else rec["start"]  # no item: no warm
            rec["mid"] = mid.get(w, rec["warm"])
            rec["end"] = memory(rec["pid"])
            keys = [k for k in rec["start"] if k != "VmHWM"]
            rec["growth"] = {k: rec["end"][k] - rec["warm"][k] for k in keys}  # over the pass, once warm
            rec["growth_since_start"] = {k: rec["end"][k] - rec["start"][k] for k in keys}
            out.append(rec)
        del loader
    return {
        "samples": n,
        "seconds": round(seconds, 1),
        "samples_per_s": round(n / seconds, 1),
        "workers": out,
    }


def step_pass(
    root: str, version: str, cache: str, kind: str, item: str, workers: int, batch: int
) -> dict[str, Any]:
    """One shuffled pass over the train split (:func:`measure_pass`) of index items or full samples."""
    import torch

    from sensorfuse.data import FusionDataset, SampleConfig
    from sensorfuse.structures import collate

    torch.set_num_threads(1)
    index = _open(root, version, cache, kind)
    tokens = index.split_tokens("train")
    main_start = memory()
    if item == "index":
        run = measure_pass(IndexItems(index, tokens), workers, batch, list, len)
    else:
        ds = FusionDataset(index, tokens, SampleConfig())
        run = measure_pass(ds, workers, batch, collate, lambda b: b.batch_size)
    return {"item": item, **run, "main": {"start": main_start, "end": memory()}}


def step_throughput(root: str, version: str, cache: str | None, samples: int) -> dict[str, Any]:
    import torch

    from sensorfuse.bench.loading import _rate
    from sensorfuse.data import FusionDataset, SampleConfig
    from sensorfuse.structures import collate

    torch.set_num_threads(1)
    index = _open(root, version, cache, "columns")
    tokens = _shuffled(index.split_tokens("train"))[: samples + 1]
    return {
        "full": _rate(FusionDataset(index, tokens, SampleConfig()), 1, collate, samples),
        "index": _rate(IndexItems(index, tokens), 1, list, samples),
    }


# -- the run -----------------------------------------------------------------------------------------------------
def _load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    root, version = str(args.dataroot), args.version
    rep: dict[str, Any] = {"dataroot": root, "version": version, "machine": _machine(), "load_avg": {}}
    tdir = Path(root) / version
    rep["tables_json_mb"] = round(sum(p.stat().st_size for p in tdir.glob("*.json")) / 1e6, 1)
    with tempfile.TemporaryDirectory(prefix="sensorfuse-scale-", dir=args.cache_dir) as cache:
        steps: list[tuple[str, Any, tuple[Any, ...]]] = [
            ("build", step_build, (root, version, cache)),
            ("load", _median_load, (root, version, cache, "columns")),
            ("first_batch", step_first_batch, (root, version, cache, args.workers, args.batch_size)),
            ("throughput", step_throughput, (root, version, cache, args.samples)),
        ]
        if args.item != "none":
            steps.append(
                (
                    "pass",
                    step_pass,
                    (root, version, cache, "columns", args.item, args.workers, args.batch_size),
                )
            )
        if args.json_baseline:
            steps += [
                ("json_build", step_json_build, (root, version, cache)),
                ("json_load", _median_load, (root, version, cache, "json")),
                (
                    "json_pass",
                    step_pass,
                    (root, version, cache, "json", "index", args.workers, args.batch_size),
                ),
            ]
        for name, fn, fargs in steps:
            rep["load_avg"][name] = _load_avg()
            log.info("%s (load average %s)", name, rep["load_avg"][name])
            rep[name] = fn(*fargs) if name.endswith("load") else _child(fn, *fargs)
            log.info("%s: %s", name, json.dumps(rep[name])[:400])
    return rep


def _index_size(root: str, version: str) -> int:
    return len(_open(root, version, None, "columns"))


def compare_throughput(roots: list[str], version: str, samples: int, rounds: int) -> dict[str, Any]:
    """Throughput per core of several worlds measured in interleaved rounds (each world once per round, in a
    fresh process), so that a change of the machine's load hits every world alike; medians per world. The
    index is the dataroot's own (built first when missing, not timed)."""
    for root in roots:
        _child(
            _open, root, version, None, "columns"
        )  # build once, outside the timing (the result is dropped)
    runs: dict[str, list[dict[str, Any]]] = {root: [] for root in roots}
    load_avg = []
    for r in range(rounds):
        for root in roots:
            load_avg.append(_load_avg())
            runs[root].append(_child(step_throughput, root, version, None, samples))
            log.info("round %d %s: %s", r, root, runs[root][-1])
    worlds = {}
    for root, rs in runs.items():
        worlds[root] = {
            item: {
                "median_samples_per_s": statistics.median(x[item]["samples_per_s"] for x in rs),
                "runs": [x[item]["samples_per_s"] for x in rs],
            }
            for item in ("full", "index")
        }
    return {"version": version, "samples": samples, "rounds": rounds, "worlds": worlds, "load_avg": load_avg}


def _median_load(root: str, version: str, cache: str, kind: str) -> dict[str, Any]:
    runs = [_child(step_load, root, version, cache, kind) for _ in range(3)]
    best = sorted(runs, key=lambda r: r["open_s"])[1]
    return {**best, "open_s_runs": [r["open_s"] for r in runs]}


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


# -- reports -----------------------------------------------------------------------------------------------------
def _worker_row(p: dict[str, Any], key: str) -> str:
    start = [w["start"][key] / 1024 for w in p["workers"]]
    warm = [w["warm"][key] / 1024 for w in p["workers"]]
    growth = [w["growth"][key] / 1024 for w in p["workers"]]
    second = [(w["end"][key] - w.get("mid", w["warm"])[key]) / 1024 for w in p["workers"]]
    return (
        f"start {min(start):.0f}–{max(start):.0f} MB, warm {min(warm):.0f}–{max(warm):.0f} MB, "
        f"growth over the pass {min(growth):+.1f} … {max(growth):+.1f} MB "
        f"(second half {min(second):+.1f} … {max(second):+.1f})"
    )


def markdown(rep: dict[str, Any]) -> str:
    """One run as a table."""
    b, ld, fb, th = rep["build"], rep["load"], rep["first_batch"], rep["throughput"]
    rows = [
        ("records (sample / sample_data / annotation)", "{sample} / {sample_data} / {annotation}".format(**b["records"])),
        ("tables (JSON)", f"{rep['tables_json_mb']} MB"),
        ("index build", f"{b['seconds']} s ({', '.join(f'{k} {v} s' for k, v in b['stages_s'].items())}), peak RSS {b['peak_rss_mb']} MB"),
        ("index size on disk", f"{b['size_mb']} MB"),
        ("index load (median of 3, warm page cache)", f"{ld['open_s']} s (devkit imported: {ld['devkit_imported']})"),
        ("sample_data lookup", f"{ld['sample_data_lookup_us']} µs"),
        ("time to first training batch (4 workers)", f"{fb['total_s']} s; preflight of {fb['train_samples']} samples {fb['preflight_s']} s"),
        ("throughput per core, full samples", f"{th['full']['samples_per_s']} samples/s"),
        ("throughput per core, index items", f"{th['index']['samples_per_s']} samples/s"),
    ]  # fmt: skip
    for name in ("pass", "json_pass"):
        if name in rep:
            p = rep[name]
            tag = "format-2 JSON index" if name == "json_pass" else "columns"
            rows.append(
                (f"pass over train ({tag}, {p['item']} items, {p['samples']} samples)", f"{p['seconds']} s")
            )
            for key in ("VmRSS", "Pss", "RssAnon", "Private_Dirty"):
                rows.append((f"  worker {key} ({tag})", _worker_row(p, key)))
    if "json_build" in rep:
        j, jl = rep["json_build"], rep["json_load"]
        rows += [
            ("format-2 JSON index build / size", f"{j['seconds']} s / {j['size_mb']} MB, peak RSS {j['peak_rss_mb']} MB"),
            ("format-2 JSON index load", f"{jl['open_s']} s, RSS +{jl['rss_growth_open_mb']} MB"),
        ]  # fmt: skip
    return "\n".join(["| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]) + "\n"


def growth_table(reps: list[dict[str, Any]]) -> str:
    """How the figures grow from one world to the next (columns: the worlds, by number of scenes)."""
    reps = sorted(reps, key=lambda r: r["build"]["records"]["scene"])

    def worst_growth(r: dict[str, Any], key: str) -> str:
        if "pass" not in r:
            return "–"
        return f"{max(w['growth'][key] for w in r['pass']['workers']) / 1024:+.1f}"

    def total_pss_growth(r: dict[str, Any]) -> str:
        if "pass" not in r:
            return "–"
        p = r["pass"]
        warm = sum(w["warm"]["Pss"] for w in p["workers"]) + p["main"]["start"]["Pss"]
        end = sum(w["end"]["Pss"] for w in p["workers"]) + p["main"]["end"]["Pss"]
        return f"{(end - warm) / 1024:+.1f}"

    figures: list[tuple[str, Any]] = [
        ("sample_data records", lambda r: f"{r['build']['records']['sample_data']:,}"),
        ("annotations", lambda r: f"{r['build']['records']['annotation']:,}"),
        ("tables JSON (MB)", lambda r: r["tables_json_mb"]),
        ("index build (s)", lambda r: r["build"]["seconds"]),
        ("index size (MB)", lambda r: r["build"]["size_mb"]),
        ("index load (s)", lambda r: r["load"]["open_s"]),
        ("sample_data lookup (µs)", lambda r: r["load"]["sample_data_lookup_us"]),
        ("first batch (s)", lambda r: r["first_batch"]["total_s"]),
        ("preflight (s)", lambda r: r["first_batch"]["preflight_s"]),
        ("full samples/s per core", lambda r: r["throughput"]["full"]["samples_per_s"]),
        ("index items/s per core", lambda r: r["throughput"]["index"]["samples_per_s"]),
        ("worst worker RSS growth over a pass (MB)", lambda r: worst_growth(r, "VmRSS")),
        ("worst worker PSS growth over a pass (MB)", lambda r: worst_growth(r, "Pss")),
        ("worst worker RssAnon growth over a pass (MB)", lambda r: worst_growth(r, "RssAnon")),
        ("worst worker Private_Dirty growth over a pass (MB)", lambda r: worst_growth(r, "Private_Dirty")),
        ("PSS of the main process + workers, growth over a pass (MB)", total_pss_growth),
    ]
    head = "| figure | " + " | ".join(f"{r['build']['records']['scene']} scenes" for r in reps) + " |"
    lines = [head, "|---|" + "---:|" * len(reps)]
    lines += [f"| {name} | " + " | ".join(str(fn(r)) for r in reps) + " |" for name, fn in figures]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dataroot", type=Path, help="nuScenes-format dataroot")
    p.add_argument("--version", default="v1.0-trainval")
    p.add_argument("--out", type=Path, help="JSON result file")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers (first batch, pass)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--samples", type=int, default=200, help="samples timed per throughput figure")
    p.add_argument("--item", choices=("index", "full", "none"), default="index", help="what the pass loads")
    p.add_argument("--json-baseline", action="store_true", help="also measure the format-2 JSON index")
    p.add_argument("--cache-dir", default=None, help="where the index is built (a temporary folder in it)")
    p.add_argument("--table", type=Path, nargs="+", help="print the growth table of these result files")
    p.add_argument(
        "--compare", nargs="+", help="dataroots whose throughput per core is compared (interleaved rounds)"
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.table:
        print(growth_table([json.loads(f.read_text()) for f in args.table]), end="")
        return 0
    from sensorfuse.utils.atomic import atomic_write_json

    if args.compare and args.out:
        cmp = compare_throughput(args.compare, args.version, args.samples, args.rounds)
        atomic_write_json(args.out, cmp, indent=2)
        for root, w in cmp["worlds"].items():
            print(
                f"{root}: full {w['full']['median_samples_per_s']} samples/s, index {w['index']['median_samples_per_s']}"
            )
        return 0
    if args.dataroot is None or args.out is None:
        p.error("--dataroot and --out are required (or --table FILES, or --compare DATAROOTS --out FILE)")

    rep = run(args)
    atomic_write_json(args.out, rep, indent=2)
    print(markdown(rep), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
