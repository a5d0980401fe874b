"""Generate a synthetic world in the nuScenes on-disk format (see ``docs/synth.md``)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from sensorfuse.calib.rig import load_rig
from sensorfuse.classes import CATEGORY_TO_CLASS
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import scale_intrinsics
from sensorfuse.synth.config import SynthConfig, scene_names, token
from sensorfuse.synth.scene import SceneCtx, actor_colors, build_world, generate_scene
from sensorfuse.synth.tables import TableChunk, Tables, TableWriter, static_tables
from sensorfuse.synth.taxonomy import TAXONOMY
from sensorfuse.utils.atomic import atomic_dir, clean_stale

T0_US = 1_533_000_000_000_000  # 2018-07-31, like the real logs
CATEGORY_NAME = {c["token"]: c["name"] for c in TAXONOMY["category"]}


@dataclass(frozen=True)
class SceneResult:
    """One scene's records (serialised by the worker; the parent only writes them) and what it holds."""

    tables: TableChunk
    sweeps: dict[str, int]  # per channel
    annotations: Counter[str]  # per class (or category outside the detection classes)


@dataclass(frozen=True)
class SynthSummary:
    """What was generated and how fast."""

    out_dir: Path
    version: str
    scenes: int
    samples: int
    sweeps: dict[str, int]
    annotations: dict[str, int]
    seconds: float
    splits: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sweeps_per_second(self) -> float:
        return sum(self.sweeps.values()) / max(self.seconds, 1e-9)

    def format(self) -> str:
        lines = [
            f"synthetic world {self.out_dir} ({self.version}): {self.scenes} scenes, {self.samples} samples, "
            f"{sum(self.sweeps.values())} sweeps in {self.seconds:.1f} s ({self.sweeps_per_second:.0f} sweeps/s)",
            "  sweeps per sensor: " + ", ".join(f"{k} {v}" for k, v in sorted(self.sweeps.items())),
            "  annotations per class: " + ", ".join(f"{k} {v}" for k, v in sorted(self.annotations.items())),
            "  splits: " + ", ".join(f"{k} {len(v)}" for k, v in self.splits.items()),
        ]
        return "\n".join(lines)


def _check_out(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir}: output directory already exists (pass --overwrite to replace it)")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{out_dir}: cannot write there ({parent} is not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{out_dir}: cannot write there ({parent} is not writable)")


def _scene_job(
    job: tuple[SynthConfig, int, str, str, Path, dict[str, str], dict[str, np.ndarray]],
) -> SceneResult:
    """Generate one scene (in a worker process); returns its table records and counts."""
    cfg, index, name, split, root, cs_tokens, intrinsics = job
    cv2.setNumThreads(1)
    rig = load_rig(cfg.rig_path)
    tables = Tables()
    ego, actors = build_world(cfg, index, cfg.scene_seconds)
    log_token = token(cfg.seed, "log", name)
    logfile = f"synth-s{cfg.seed}-{name}"
    tables.add(
        "log",
        {"token": log_token, "logfile": logfile, "vehicle": "synth", "date_captured": "2018-07-31",
         "location": "synth-city"},
    )  # fmt: skip
    ctx = SceneCtx(
        cfg, rig, root, tables, cs_tokens, ego, actors, actor_colors(actors), logfile,
        T0_US + index * 3_600_000_000, name, intrinsics, {} if cfg.payload == "shared" else None,
    )  # fmt: skip
    desc = f"synthetic ({split}): curvy road, {len(actors)} actors"
    counts = generate_scene(ctx, token(cfg.seed, "scene", name), log_token, desc, [cfg.seed, index, 2])
    inst_cat = {i["token"]: CATEGORY_NAME[i["category_token"]] for i in tables.records["instance"]}
    per_class = Counter(
        CATEGORY_TO_CLASS.get(inst_cat[a["instance_token"]], inst_cat[a["instance_token"]])
        for a in tables.records["sample_annotation"]
    )
    return SceneResult(tables.chunk(), counts, per_class)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _worker_init(parent_pid: int) -> None:
    """Set up a scene worker: Ctrl-C is the parent's to handle, and the worker dies with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _kill_me_with_parent():
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def _kill_me_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return (
            int(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
        )
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """Where there is no ``prctl``: exit once the parent is gone (this process is then re-parented)."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C in this block (main thread only); processes started here inherit the ignoring."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


@contextlib.contextmanager
def _scene_results(jobs: list[Any], workers: int) -> Iterator[Iterable[SceneResult]]:
    """The scenes' results in scene order, computed here or by ``workers`` spawned processes.

    The workers die with this process however it dies (:func:`_worker_init`), ignore Ctrl-C (the terminal
    sends it to them too; the parent stops them), and are killed at once when the caller's block raises
    (Ctrl-C included), so that none writes into a staging folder that is being removed.
    """
    if workers <= 1:
        yield map(_scene_job, jobs)
        return
    ctx = multiprocessing.get_context("spawn")
    with _sigint_ignored():  # the workers start ignoring Ctrl-C, even before their initializer runs
        pool = ProcessPoolExecutor(workers, ctx, initializer=_worker_init, initargs=(os.getpid(),))
        results = pool.map(_scene_job, jobs)  # submits every job, which starts all the workers
    try:
        yield results
    except BaseException:
        processes = list(
            (pool._processes or {}).values()
        )  # no public API kills a ProcessPoolExecutor's workers
        for p in processes:
            p.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        for p in processes:
            p.join(timeout=5)
        raise
    pool.shutdown()


def generate(out_dir: str | Path, cfg: SynthConfig, overwrite: bool = False) -> SynthSummary:
    """Generate the world described by ``cfg`` into ``out_dir`` (built atomically)."""
    cfg.validate()
    out_dir = Path(out_dir)
    clean_stale(out_dir)  # what killed runs left (a swap killed half-way may even bring out_dir back)
    _check_out(out_dir, overwrite)
    rig = load_rig(cfg.rig_path)
    if len(rig.channels("lidar")) != 1:
        raise ConfigError(
            f"{cfg.rig_path}: the generator needs exactly one lidar, got {rig.channels('lidar')}"
        )
    names = scene_names(cfg)
    start = time.perf_counter()
    sweeps: Counter[str] = Counter()
    per_class: Counter[str] = Counter()
    with atomic_dir(out_dir, overwrite=overwrite) as root:
        static = Tables()
        cs_tokens = static_tables(static, rig, cfg.image_width, cfg.image_height, cfg.seed)
        intrinsics = {
            ch: scale_intrinsics(
                s.intrinsic, cfg.image_width / s.image_size[0], cfg.image_height / s.image_size[1]
            )
            for ch, s in rig.sensors.items()
            if s.intrinsic is not None and s.image_size is not None
        }
        jobs = [
            (cfg, index, name, split, root, cs_tokens, intrinsics)
            for index, (name, split) in enumerate(names)
        ]
        workers = min(cfg.workers or os.cpu_count() or 1, len(jobs))
        splits = {"train": [n for n, s in names if s == "train"], "val": [n for n, s in names if s == "val"]}
        if cfg.splits_path is not None:
            (root / cfg.version).mkdir(parents=True, exist_ok=True)
            (root / cfg.version / "splits.json").write_text(json.dumps(splits))
        writer = TableWriter(root, cfg.version)
        try:
            writer.add(static.chunk())
            # scenes are independent (own seed): generate them in parallel, write them in scene order
            with (
                _scene_results(jobs, workers) as results,
                tqdm(total=len(jobs), desc="synth scenes", disable=not cfg.progress) as bar,
            ):
                for res in results:
                    writer.add(res.tables)
                    sweeps.update(res.sweeps)
                    per_class.update(res.annotations)
                    bar.update(1)
            writer.close(cfg.seed)
        finally:
            writer.abort()
        n_samples = writer.count["sample"]
    return SynthSummary(
        out_dir,
        cfg.version,
        len(names),
        n_samples,
        dict(sweeps),
        dict(per_class),
        time.perf_counter() - start,
        splits,
    )
