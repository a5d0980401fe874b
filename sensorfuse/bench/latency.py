"""Per-stage latency of the fusion detector (batch 1): ``sensorfuse bench latency``.

The model runs through :class:`~sensorfuse.engine.runner.ModelRunner` (the runner replay uses too), which calls
``FusionDetector.predict`` with a :class:`~sensorfuse.utils.timing.StageTimer` as its stage hook, so
``voxelize``, ``lidar_encoder``, ``camera_encoder``, ``view_transform``, ``radar_encoder``, ``fuser``, ``head``
and ``postprocess`` are timed separately inside the very code ``predict`` runs.

:func:`measure` runs warm-up frames, then N timed frames, on one config and sensor subset. With a dataroot
each frame also loads a real keyframe (``load``: :func:`sensorfuse.data.load_sample` + collate + copy to the
device) and synchronises its sensors (``sync``: :func:`sensorfuse.sync.synchronize` over the scene's
streams); without one, a fixed synthetic sample is used and ``load``/``sync`` are not measured.

With several runtimes (``--runtime eager,compile,onnxruntime``, :mod:`sensorfuse.deploy.runtime`) the same model
runs in each, frame by frame in turn (:func:`measure_runtimes`: every runtime sees the same samples and the same
machine load), and the report adds a side-by-side table with each stage's speed-up over eager.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.classes import MODALITIES
from sensorfuse.data.config import SampleConfig
from sensorfuse.engine.runner import ModelRunner
from sensorfuse.errors import ConfigError
from sensorfuse.models.fake import synthetic_sample
from sensorfuse.models.stages import NETWORK_STAGES
from sensorfuse.structures import SensorSample
from sensorfuse.utils.timing import (
    STAGES,
    StageStats,
    StageTimer,
    TimingSummary,
    markdown_table,
    plot_stacked,
)

log = logging.getLogger(__name__)

#: Config overrides for a model small enough for tests and smoke runs (a few ms per stage on a CPU).
TINY_OVERRIDES: tuple[str, ...] = (
    "model.grid.x_range=[-16.0, 16.0]",
    "model.grid.y_range=[-16.0, 16.0]",
    "model.grid.cell=1.0",
    "model.lidar.pillar_size=0.5",
    "model.lidar.backbone_channels=[8, 16]",
    "model.lidar.pfn_channels=8",
    "model.lidar.out_channels=16",
    "model.camera.stem_channels=8",
    "model.camera.stage_channels=[8, 8, 16]",
    "model.camera.neck_channels=16",
    "model.camera.out_channels=16",
    "model.camera.depth_max=17.0",
    "model.camera.depth_step=2.0",
    "model.radar.pillar_size=1.0",
    "model.radar.pfn_channels=8",
    "model.radar.out_channels=8",
    "model.fuser.channels=16",
    "model.fuser.dim=16",
    "model.fuser.heads=2",
    "model.fuser.window=4",
    "model.decoder.channels=16",
    "model.decoder.blocks=1",
    "model.head.channels=16",
    "data.sample.image_size=[32, 96]",
    "data.sample.lidar_sweeps=1",
    "data.sample.radar_sweeps=1",
)


@dataclass(frozen=True)
class BenchInputs:
    """Where frames come from: a dataset (real loading timed) or one synthetic sample."""

    dataroot: Path | None = None
    version: str = "v1.0-mini"
    split: str = "all"
    synthetic_lidar_points: int | None = None  # None: 34k per configured sweep
    drive: Path | None = None  # a recorded drive (MCAP / rosbag2 / ROS 1): every reference sweep in turn
    rig: Path | None = None


class _Loader:
    """Loads keyframes round-robin and times ``sync`` and ``load`` like an offline pipeline would."""

    def __init__(self, inputs: BenchInputs, cfg: SampleConfig, index: Any = None) -> None:
        from sensorfuse.sources.nuscenes.index import NuScenesIndex

        if inputs.dataroot is None:
            raise ConfigError("internal: _Loader needs a dataroot")
        self.index = index if index is not None else NuScenesIndex(inputs.dataroot, inputs.version)
        self.tokens = self.index.split_tokens(inputs.split)
        if not self.tokens:
            raise ConfigError(f"{inputs.dataroot}: split {inputs.split!r} has no samples")
        self.cfg = replace(cfg, on_missing="drop_sensor")
        self.i = 0

    def next(self, timer: StageTimer) -> SensorSample:
        from sensorfuse.data.sample import load_sample
        from sensorfuse.sync.core import Message, SyncPolicy, synchronize

        token = self.tokens[self.i % len(self.tokens)]
        self.i += 1
        with timer.stage("sync"):
            sample = self.index.sample(token)
            t_ref = self.index.sample_data[sample["data"]["LIDAR_TOP"]]["timestamp"]
            streams = {
                ch: [Message(ch, self.index.sample_data[t]["timestamp"], t)]
                for ch, t in sample["data"].items()
            }
            synchronize(t_ref, streams, SyncPolicy(tolerance_us=dict(self.cfg.tolerance_us)))
        with timer.stage("load"):
            return load_sample(self.index, token, self.cfg)


class _DriveLoader:
    """Every reference-sensor message of a recorded drive in turn: ``sync`` (each sensor's nearest message
    within tolerance) and ``load`` (the one assembler) timed, as for a dataroot."""

    def __init__(self, inputs: BenchInputs, cfg: SampleConfig) -> None:
        from sensorfuse.data.recording import fit_to_recording
        from sensorfuse.sources.bag_drive import open_drive

        assert inputs.drive is not None
        self.drive = open_drive(inputs.drive, inputs.rig)
        self.cfg = replace(fit_to_recording(cfg, self.drive), on_missing="drop_sensor")
        messages = self.drive.messages()
        names = [n for n in self.cfg.channels_for(("lidar", "camera", "radar")) if n in self.drive.sensors]
        self.streams = {n: [m for m in messages if m.channel == n] for n in names}
        self.refs = [m for m in messages if m.channel == self.cfg.reference]
        if not self.refs:
            raise ConfigError(f"{inputs.drive}: no messages of the reference sensor {self.cfg.reference!r}")
        self.i = 0

    def next(self, timer: StageTimer) -> SensorSample:
        from sensorfuse.data.assemble import Selection, assemble
        from sensorfuse.sync.core import SyncPolicy, synchronize

        ref = self.refs[self.i % len(self.refs)]
        self.i += 1
        with timer.stage("sync"):
            picked = synchronize(
                ref.timestamp, self.streams, SyncPolicy(tolerance_us=dict(self.cfg.tolerance_us))
            )
        with timer.stage("load"):
            sel = Selection(ref, picked.chosen, scene_name=self.drive.name)
            return assemble(self.drive, sel, self.cfg, picked.missing)


def measure(
    model: ModelRunner, frames: int, warmup: int, inputs: BenchInputs, meta: dict[str, Any] | None = None
) -> TimingSummary:
    """Warm up, then time ``frames`` frames (batch 1); returns the per-stage summary."""
    return measure_runtimes({"run": model}, frames, warmup, inputs, {"run": meta or {}})["run"]


def measure_runtimes(
    runners: Mapping[str, ModelRunner],
    frames: int,
    warmup: int,
    inputs: BenchInputs,
    metas: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, TimingSummary]:
    """Time ``frames`` frames (batch 1) of each runner, in turn frame by frame, after ``warmup`` untimed ones.

    Each runner loads its own copy of the same keyframe (with a dataroot) or predicts the same synthetic
    sample. The summaries' ``meta`` add the runtime's settings and versions, the point counts per frame and
    ``network_stages``: the statistics of the per-frame sum of :data:`~sensorfuse.models.stages.NETWORK_STAGES`.
    """
    if frames < 1 or warmup < 0:
        raise ConfigError(f"--frames must be >= 1 and --warmup >= 0, got {frames} / {warmup}")
    from tqdm import tqdm

    first = next(iter(runners.values()))
    timers = {k: StageTimer(r.device) for k, r in runners.items()}
    points: dict[str, dict[str, list[int]]] = {k: {"lidar": [], "radar": []} for k in runners}
    if inputs.drive is not None:
        drives = {k: _DriveLoader(inputs, r.sample_config) for k, r in runners.items()}
        get = {k: loader.next for k, loader in drives.items()}
    elif inputs.dataroot is not None:
        loaders = {k: _Loader(inputs, r.sample_config) for k, r in list(runners.items())[:1]}
        shared = next(iter(loaders.values())).index
        loaders.update(
            {k: _Loader(inputs, r.sample_config, shared) for k, r in runners.items() if k not in loaders}
        )
        get = {k: loader.next for k, loader in loaders.items()}
    else:
        fixed = synthetic_sample(first.sample_config, n_lidar=inputs.synthetic_lidar_points)
        get = dict.fromkeys(runners, lambda timer: fixed)
    label = ",".join(str((metas or {}).get(k, {}).get("label", k)) for k in runners)
    for i in tqdm(range(warmup + frames), desc=f"latency {label}", leave=False):
        for k, runner in runners.items():
            timer = timers[k]
            if i == warmup:
                timer.reset()
            with timer.frame():
                sample = get[k](timer)
                runner.predict_sample(sample, timer)
            if i >= warmup:
                for m, pts in (("lidar", sample.lidar), ("radar", sample.radar)):
                    points[k][m].append(len(pts) if pts is not None else 0)
    out = {}
    for k, runner in runners.items():
        info = dict((metas or {}).get(k, {}))
        info.update(frames=frames, warmup=warmup, batch_size=1, inputs=str(inputs.dataroot or "synthetic"))
        info["runtime"] = dict(runner.runtime.info)
        info["points_per_frame"] = {m: _count_stats(v) for m, v in points[k].items()}
        network = [sum(f.get(s, 0.0) for s in NETWORK_STAGES) for f in timers[k].frames]
        info["network_stages"] = StageStats.of(network, len(network)).as_dict()
        out[k] = timers[k].summary(meta=info)
    return out


def _count_stats(values: Sequence[int]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": 0.0, "min": 0.0, "max": 0.0}
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}


def runtime_table(runs: Mapping[str, TimingSummary], base: str = "eager") -> str:
    """Markdown: per stage, p50 / p90 / p99 of each runtime and its p50 speed-up over ``base`` (runtime → run).

    Rows: the timed stages, ``network stages`` (per-frame sum of the stages the runtimes replace) and end to end
    with and without pre-processing.
    """
    names = list(runs)
    ref = runs.get(base)

    def stats(t: TimingSummary, row: str) -> StageStats | None:
        if row == "network stages":
            return StageStats(**t.meta["network_stages"]) if "network_stages" in t.meta else None
        if row == "end to end":
            return t.end_to_end
        if row == "end to end without load/sync/voxelize":
            return t.end_to_end_no_preprocessing
        return t.stages.get(row)

    def cell(t: TimingSummary, row: str) -> str:
        st = stats(t, row)
        if st is None or st.n == 0:
            return "–"
        text = f"{st.p50:.2f} / {st.p90:.2f} / {st.p99:.2f}"
        r = stats(ref, row) if ref is not None and t is not ref else None
        return text + (f" (**{r.p50 / st.p50:.2f}x**)" if r is not None and r.n and st.p50 > 0 else "")

    rows = [s for s in STAGES if any(s in t.stages for t in runs.values())]
    rows += ["network stages", "end to end", "end to end without load/sync/voxelize"]
    head = "| stage | " + " | ".join(f"{n} p50 / p90 / p99 ms" for n in names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    lines += [f"| {row} | " + " | ".join(cell(runs[n], row) for n in names) + " |" for row in rows]
    lines.append(f"\n(x: p50 speed-up over {base}, {base} p50 / runtime p50; > 1 is faster)")
    return "\n".join(lines) + "\n"


def parse_sensor_subsets(items: Sequence[str]) -> list[tuple[str, ...]]:
    """``["lidar,camera,radar", "lidar"]`` → subsets; ``all`` = every modality. ConfigError on unknown names."""
    out = []
    for item in items:
        names = (
            tuple(MODALITIES)
            if item.strip() == "all"
            else tuple(s.strip() for s in item.split(",") if s.strip())
        )
        bad = [n for n in names if n not in MODALITIES]
        if bad or not names:
            raise ConfigError(
                f"--sensors {item!r}: expected comma-separated names from {MODALITIES} (or 'all')"
            )
        out.append(names)
    return out


def machine_info(device: str) -> dict[str, Any]:
    import os

    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


# -- the `sensorfuse bench latency` run ------------------------------------------------------------------------
def _configs(args: Any) -> list[tuple[str, Any]]:
    """(label, TrainConfig) for --config and each --compare path."""
    from sensorfuse.engine.config import load_config

    paths: list[Path | None] = [args.config] + [
        Path(p.strip()) for p in str(args.compare).split(",") if p.strip()
    ]
    out = []
    for p in paths:
        label = "default" if p is None else p.stem
        out.append((label, load_config(p, list(args.overrides))))
    labels = [lab for lab, _ in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--config/--compare: configs need distinct file names, got {labels}")
    return out


def _runners(cfg: Any, args: Any) -> dict[str, ModelRunner]:
    """Runtime name → a runner of the one model (``--checkpoint`` or random init, seed 0), warmed up."""
    import torch

    from sensorfuse.deploy.runtime import OrtOptions, parse_runtimes, temporary_export
    from sensorfuse.models.build import build_detector

    names = parse_runtimes(args.runtime)
    if args.checkpoint is not None:
        from sensorfuse.engine.evaluate import load_model

        model, ckpt_cfg = load_model(args.checkpoint, torch.device("cpu"))
        sample = ckpt_cfg.data.sample
    else:
        torch.manual_seed(0)
        model, sample = build_detector(cfg.model), cfg.data.sample
    ort = OrtOptions(threads=args.ort_threads, opt_level=args.ort_opt, spinning=args.ort_spinning)
    onnx_dir, remove = args.onnx, None
    if onnx_dir is None and len({"onnxruntime", "tensorrt"} & set(names)) > 1:  # export once for both
        onnx_dir, remove = temporary_export(model, sample)
    runners = {}
    for name in names:
        runners[name] = ModelRunner(model, sample, args.device, runtime=name, onnx_dir=onnx_dir, ort=ort)
        runners[name].warmup(2)
    if remove is not None:
        runners[names[0]].runtime.on_close(remove)  # removed when the runners close
    return runners


def run_latency(args: Any, command: str) -> dict[str, TimingSummary]:
    """Time every (config, sensor subset, runtime); write ``latency.json``, ``latency.md`` and ``latency.png``."""
    import torch

    from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.drive is not None and args.dataroot is not None:
        raise ConfigError("--drive and --dataroot: give one source of frames")
    inputs = BenchInputs(args.dataroot, args.version, args.split, args.synthetic_points, args.drive, args.rig)
    runs: dict[str, TimingSummary] = {}
    compared: dict[str, dict[str, TimingSummary]] = {}
    for label, cfg in _configs(args):
        runners = _runners(cfg, args)
        try:
            first = next(iter(runners.values()))
            subsets = parse_sensor_subsets(args.sensors) if args.sensors else [first.sensors]
            for subset in subsets:
                missing = [s for s in subset if s not in first.model.sensors]
                if missing:
                    raise ConfigError(
                        f"--sensors {','.join(subset)}: config {label} has no encoder for {missing}"
                    )
                base = label if len(subsets) == 1 else f"{label}[{'+'.join(subset)}]"
                names = {rt: base if len(runners) == 1 else f"{base}[{rt}]" for rt in runners}
                metas = {rt: {"label": names[rt], "config": label, "sensors": list(subset),
                              "weights": str(args.checkpoint) if args.checkpoint else "random init (seed 0)"}
                         for rt in runners}  # fmt: skip
                for r in runners.values():
                    r.sensors = subset
                result = measure_runtimes(runners, args.frames, args.warmup, inputs, metas)
                for rt, summary in result.items():
                    runs[names[rt]] = summary
                    log.info("%s: end to end p50 %.1f ms", names[rt], summary.end_to_end.p50)
                if len(runners) > 1:
                    compared[base] = result
        finally:
            for r in runners.values():
                r.close()
    machine = machine_info(args.device)
    report = {"command": command, "machine": machine, "runs": {k: v.as_dict() for k, v in runs.items()}}
    atomic_write_json(args.out / "latency.json", report, indent=2)
    head = (
        f"# Per-stage latency (batch 1, {args.frames} frames after {args.warmup} warm-up, ms)\n\n"
        f"Command: `{command}`\n\nMachine: {machine['platform']}, {machine['cpu_count']} CPUs, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), device {machine.get('gpu', args.device)}\n\n"
    )
    text = markdown_table(runs)
    for base, result in compared.items():
        text += f"\n## {base}: runtimes side by side\n\n" + runtime_table(result) + "\n"
        text += "".join(f"- {rt}: {_describe(t.meta)}\n" for rt, t in result.items())
    atomic_write_text(args.out / "latency.md", head + text)
    plot_stacked(runs, args.out / "latency.png", title=f"per-stage latency ({args.device})")
    print(text)
    return runs


def _describe(meta: Mapping[str, Any]) -> str:
    """One line of a run's runtime settings and point counts."""
    rt = dict(meta.get("runtime", {}))
    keep = ("precision", "torch", "torch_threads", "compiler", "cxx", "onnxruntime", "providers",
            "intra_op_threads", "graph_optimization_level", "spinning", "opset")  # fmt: skip
    pts = meta.get("points_per_frame", {})
    counts = ", ".join(f"{m} points {v['mean']:.0f} mean" for m, v in pts.items())
    return ", ".join(f"{k} {rt[k]}" for k in keep if k in rt) + (f"; {counts}" if counts else "")
