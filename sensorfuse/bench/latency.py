"""Per-stage latency of the fusion detector (batch 1): ``sensorfuse bench latency``.

The model runs through :class:`~sensorfuse.engine.runner.ModelRunner` (the runner replay uses too), which calls
``FusionDetector.predict`` with a :class:`~sensorfuse.utils.timing.StageTimer` as its stage hook, so
``voxelize``, ``lidar_encoder``, ``camera_encoder``, ``view_transform``, ``radar_encoder``, ``fuser``, ``head``
and ``postprocess`` are timed separately inside the very code ``predict`` runs.

:func:`measure` runs warm-up frames, then N timed frames, on one config and sensor subset. With a dataroot
each frame also loads a real keyframe (``load``: :func:`sensorfuse.data.load_sample` + collate + copy to the
device) and synchronises its sensors (``sync``: :func:`sensorfuse.sync.synchronize` over the scene's
streams); without one, a fixed synthetic sample is used and ``load``/``sync`` are not measured.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sensorfuse.classes import MODALITIES
from sensorfuse.data.config import SampleConfig
from sensorfuse.engine.runner import ModelRunner, synthetic_sample
from sensorfuse.errors import ConfigError
from sensorfuse.structures import SensorSample
from sensorfuse.utils.timing import StageTimer, TimingSummary, markdown_table, plot_stacked

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


class _Loader:
    """Loads keyframes round-robin and times ``sync`` and ``load`` like an offline pipeline would."""

    def __init__(self, inputs: BenchInputs, cfg: SampleConfig) -> None:
        from sensorfuse.data.index import NuScenesIndex

        if inputs.dataroot is None:
            raise ConfigError("internal: _Loader needs a dataroot")
        self.index = NuScenesIndex(inputs.dataroot, inputs.version)
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


def measure(
    model: ModelRunner, frames: int, warmup: int, inputs: BenchInputs, meta: dict[str, Any] | None = None
) -> TimingSummary:
    """Warm up, then time ``frames`` frames (batch 1); returns the per-stage summary."""
    if frames < 1 or warmup < 0:
        raise ConfigError(f"--frames must be >= 1 and --warmup >= 0, got {frames} / {warmup}")
    from tqdm import tqdm

    timer = StageTimer(model.device)
    if inputs.dataroot is not None:
        get_sample = _Loader(inputs, model.sample_config).next
    else:
        fixed = synthetic_sample(model.sample_config, n_lidar=inputs.synthetic_lidar_points)

        def get_sample(timer: StageTimer) -> SensorSample:
            return fixed

    for i in tqdm(
        range(warmup + frames), desc=f"latency {meta.get('label', '') if meta else ''}", leave=False
    ):
        if i == warmup:
            timer.reset()
        with timer.frame():
            model.predict_sample(get_sample(timer), timer)
    info = dict(meta or {})
    info.update(frames=frames, warmup=warmup, batch_size=1, inputs=str(inputs.dataroot or "synthetic"))
    return timer.summary(meta=info)


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


def _model(cfg: Any, args: Any) -> ModelRunner:
    import torch

    from sensorfuse.models.build import build_detector

    if args.checkpoint is not None:
        return ModelRunner.from_checkpoint(args.checkpoint, args.device)
    torch.manual_seed(0)
    return ModelRunner(build_detector(cfg.model), cfg.data.sample, args.device)


def run_latency(args: Any, command: str) -> dict[str, TimingSummary]:
    """Time every (config, sensor subset); write ``latency.json``, ``latency.md`` and ``latency.png``."""
    import torch

    from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    inputs = BenchInputs(args.dataroot, args.version, args.split, args.synthetic_points)
    runs: dict[str, TimingSummary] = {}
    for label, cfg in _configs(args):
        timed = _model(cfg, args)
        subsets = parse_sensor_subsets(args.sensors) if args.sensors else [timed.sensors]
        for subset in subsets:
            missing = [s for s in subset if s not in timed.model.sensors]
            if missing:
                raise ConfigError(
                    f"--sensors {','.join(subset)}: config {label} has no encoder for {missing}"
                )
            name = label if len(subsets) == 1 else f"{label}[{'+'.join(subset)}]"
            timed.sensors = subset
            meta = {"label": name, "config": label, "sensors": list(subset),
                    "weights": str(args.checkpoint) if args.checkpoint else "random init (seed 0)"}  # fmt: skip
            runs[name] = measure(timed, args.frames, args.warmup, inputs, meta)
            log.info("%s: end to end p50 %.1f ms", name, runs[name].end_to_end.p50)
    machine = machine_info(args.device)
    report = {"command": command, "machine": machine, "runs": {k: v.as_dict() for k, v in runs.items()}}
    atomic_write_json(args.out / "latency.json", report, indent=2)
    head = (
        f"# Per-stage latency (batch 1, {args.frames} frames after {args.warmup} warm-up, ms)\n\n"
        f"Command: `{command}`\n\nMachine: {machine['platform']}, {machine['cpu_count']} CPUs, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), device {machine.get('gpu', args.device)}\n\n"
    )
    atomic_write_text(args.out / "latency.md", head + markdown_table(runs))
    plot_stacked(runs, args.out / "latency.png", title=f"per-stage latency ({args.device})")
    print(markdown_table(runs))
    return runs
