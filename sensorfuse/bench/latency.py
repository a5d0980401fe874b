"""Per-stage latency of the fusion detector (batch 1), shared by ``sensorfuse bench latency`` and replay.

:class:`TimedModel` runs a :class:`~sensorfuse.models.FusionDetector` stage by stage (the detector's own stage
methods, in the order of ``FusionDetector.extract`` + ``decode``) under a
:class:`~sensorfuse.bench.timing.StageTimer`, so ``voxelize``, ``lidar_encoder``, ``camera_encoder``,
``view_transform``, ``radar_encoder``, ``fuser``, ``head`` and ``postprocess`` are timed separately.

:func:`measure` runs warm-up frames, then N timed frames, on one config and sensor subset. With a dataroot
each frame also loads a real keyframe (``load``: :func:`sensorfuse.data.load_sample` + collate + copy to the
device) and synchronises its sensors (``sync``: :func:`sensorfuse.sync.synchronize` over the scene's
streams); without one, a fixed synthetic sample is used and ``load``/``sync`` are not measured.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.bench.timing import StageTimer, TimingSummary
from sensorfuse.classes import MODALITIES
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import ConfigError
from sensorfuse.structures import (
    Boxes3D,
    CameraSet,
    FusionBatch,
    PointCloud,
    RadarPoints,
    SampleMeta,
    SensorSample,
    collate,
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


class TimedModel:
    """A detector (eval mode, on ``device``) whose prediction is timed stage by stage.

    Args:
        model: a :class:`sensorfuse.models.FusionDetector`.
        sample_config: how its inputs are loaded (image size, sweeps) — from the training config.
        device: ``cpu`` / ``cuda`` / ``cuda:N``.
        sensors: the modalities to use (default: all the model has).
    """

    def __init__(
        self,
        model: Any,
        sample_config: SampleConfig,
        device: str = "cpu",
        sensors: Iterable[str] | None = None,
    ) -> None:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})"
            )
        self.device = device
        self.model = model.to(device).eval()
        self.sample_config = sample_config
        self.sensors = tuple(sensors) if sensors is not None else tuple(model.sensors)

    @staticmethod
    def from_checkpoint(
        path: str | Path, device: str = "cpu", sensors: Iterable[str] | None = None
    ) -> TimedModel:
        """Load a training checkpoint through the engine (``weights_only=True``), with its sample settings."""
        import torch

        from sensorfuse.engine.evaluate import load_model

        model, cfg = load_model(path, torch.device("cpu"))
        return TimedModel(model, cfg.data.sample, device, sensors)

    def predict_batch(self, batch: FusionBatch, timer: StageTimer) -> list[Boxes3D]:
        """The detector's stages on ``batch`` (already on the device), each under its timer stage."""
        import torch

        from sensorfuse.models.validate import check_batch

        m = self.model
        with torch.inference_mode():
            check_batch(batch)
            present = m.active(batch, self.sensors)
            if not present:
                return [Boxes3D.empty() for _ in range(batch.batch_size)]
            feats: dict[str, torch.Tensor] = {}
            for mod in ("lidar", "radar"):
                if mod in present:
                    with timer.stage("voxelize"):
                        vox = m.voxelize(batch, mod, present[mod])
                    with timer.stage(f"{mod}_encoder"):
                        feats[mod] = m.encode_points(mod, vox)
            if "camera" in present:
                with timer.stage("camera_encoder"):
                    img = m.camera_backbone(batch, present["camera"])
                with timer.stage("view_transform"):
                    feats["camera"], _ = m.view_transform(batch, present["camera"], img)
            with timer.stage("fuser"):
                fused = m.fuse(feats, present)
            with timer.stage("head"):
                out = m.head_forward(fused)
            with timer.stage("postprocess"):
                boxes: list[Boxes3D] = m.decode(out)
        anything = torch.stack(list(present.values())).any(0).tolist()
        return [b if ok else Boxes3D.empty() for b, ok in zip(boxes, anything, strict=True)]

    def warmup(self, frames: int = 1) -> None:
        """Untimed predictions on a synthetic sample (JIT compilation, allocator and cuDNN warm-up)."""
        sample = synthetic_sample(self.sample_config, n_lidar=20_000)
        timer = StageTimer(self.device)  # stages outside a frame are not recorded
        for _ in range(frames):
            self.predict_sample(sample, timer)

    def predict_sample(self, sample: SensorSample, timer: StageTimer) -> Boxes3D:
        """One sample: collate + copy to the device (timed as ``load``), then :meth:`predict_batch`."""
        with timer.stage("load"):
            batch = collate([sample]).to(self.device)
        return self.predict_batch(batch, timer)[0]


def synthetic_sample(
    cfg: SampleConfig, n_lidar: int | None = None, n_radar: int | None = None, seed: int = 0
) -> SensorSample:
    """A fixed sample of nuScenes-like size: LiDAR points in ±50 m, radar points, the config's cameras.

    Default sizes follow the config: a real LIDAR_TOP sweep has ~34k points (``cfg.lidar_sweeps`` merged);
    each radar gives ~60 unfiltered points per sweep (``len(cfg.radars) * cfg.radar_sweeps`` sweeps).
    """
    n_lidar = 34_000 * cfg.lidar_sweeps if n_lidar is None else n_lidar
    n_radar = 60 * len(cfg.radars) * cfg.radar_sweeps if n_radar is None else n_radar
    rng = np.random.default_rng(seed)
    lidar = np.zeros((n_lidar, 5), np.float32)
    lidar[:, :2] = rng.uniform(-50, 50, (n_lidar, 2))
    lidar[:, 2] = rng.uniform(-2, 2, n_lidar)
    lidar[:, 3] = rng.uniform(0, 255, n_lidar)
    lidar[:, 4] = rng.integers(0, 10, n_lidar) * 0.05
    radar = np.zeros((n_radar, 7), np.float32)
    radar[:, :2] = rng.uniform(-60, 60, (n_radar, 2))
    radar[:, 3:5] = rng.normal(0, 3, (n_radar, 2))
    radar[:, 5] = rng.uniform(-5, 30, n_radar)
    h, w = cfg.image_size
    n = len(cfg.cameras)
    k = np.array([[w * 0.8, 0, w / 2], [0, w * 0.8, h / 2], [0, 0, 1]], np.float32)
    yaws = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cam_from_ref = np.stack([_cam_looking(y) for y in yaws]).astype(np.float32)
    cams = CameraSet(
        tuple(cfg.cameras), rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8), np.repeat(k[None], n, 0),
        cam_from_ref, np.ones(n, bool),
    )  # fmt: skip
    meta = SampleMeta("synthetic", "synthetic", 0, np.eye(4), np.eye(4))
    return SensorSample(meta, PointCloud(lidar), RadarPoints(radar), cams)


def _cam_looking(yaw: float) -> np.ndarray:
    """cam_from_ref of a camera at the origin looking along ``yaw`` in the xy plane (OpenCV camera axes)."""
    fwd = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    m = np.eye(4)
    m[:3, :3] = np.stack([right, down, fwd])
    return m


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
    model: TimedModel, frames: int, warmup: int, inputs: BenchInputs, meta: dict[str, Any] | None = None
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


def _model(cfg: Any, args: Any) -> TimedModel:
    import torch

    from sensorfuse.models.build import build_detector

    if args.checkpoint is not None:
        return TimedModel.from_checkpoint(args.checkpoint, args.device)
    torch.manual_seed(0)
    return TimedModel(build_detector(cfg.model), cfg.data.sample, args.device)


def run_latency(args: Any, command: str) -> dict[str, TimingSummary]:
    """Time every (config, sensor subset); write ``latency.json``, ``latency.md`` and ``latency.png``."""
    import torch

    from sensorfuse.bench.timing import markdown_table, plot_stacked
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
