"""Parameter counts per part and CPU forward time of a model preset on a random batch.

``python -m sensorfuse.models.summary [small|bevfusion|path.yaml] [--runs N] [--threads T]``
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from sensorfuse.models.build import build_detector
from sensorfuse.models.config import ModelConfig, load_model_config
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.presets import bevfusion_config, small_config
from sensorfuse.structures import (
    CameraSet,
    FusionBatch,
    PointCloud,
    RadarPoints,
    SampleMeta,
    SensorSample,
    collate,
)


def random_batch(
    cfg: ModelConfig,
    batch: int = 1,
    n_cam: int = 6,
    image_hw: tuple[int, int] = (128, 352),
    lidar_points: int = 30000,
    radar_points: int = 300,
    seed: int = 0,
) -> FusionBatch:
    """A batch of random sensor data on the config's grid (for timing and shape checks, not for accuracy)."""
    rng = np.random.default_rng(seed)
    g = cfg.grid
    h, w = image_hw
    k = np.array([[w / 2, 0, w / 2], [0, w / 2, h / 2], [0, 0, 1]], np.float32)
    cams = []
    for i in range(n_cam):
        t = 2 * math.pi * i / n_cam
        m = np.eye(4, dtype=np.float32)
        m[:3, :3] = [[math.sin(t), -math.cos(t), 0], [0, 0, -1], [math.cos(t), math.sin(t), 0]]
        m[:3, 3] = -m[:3, :3] @ np.array([0, 0, 1.5], np.float32)
        cams.append(m)

    def pts(n: int, extra: np.ndarray) -> np.ndarray:
        xy = rng.uniform([g.x_range[0], g.y_range[0]], [g.x_range[1], g.y_range[1]], (n, 2))
        return np.c_[xy, rng.uniform(-2, 1, (n, 1)), extra].astype(np.float32)

    samples = [
        SensorSample(
            meta=SampleMeta(f"random{b}", "random", 0, np.eye(4), np.eye(4)),
            lidar=PointCloud(
                pts(lidar_points, np.c_[rng.uniform(0, 255, lidar_points), rng.uniform(0, 0.5, lidar_points)])
            ),
            radar=RadarPoints(
                pts(
                    radar_points,
                    np.c_[
                        rng.normal(0, 3, (radar_points, 2)),
                        rng.normal(5, 5, radar_points),
                        rng.uniform(0, 0.4, radar_points),
                    ],
                )
            ),
            cameras=CameraSet(
                tuple(f"CAM{i}" for i in range(n_cam)),
                rng.integers(0, 255, (n_cam, h, w, 3), dtype=np.uint8),
                np.repeat(k[None], n_cam, 0),
                np.stack(cams),
                np.ones(n_cam, bool),
            ),
        )
        for b in range(batch)
    ]
    return collate(samples)


class StageClock:
    """``with clock("name"): ...`` appends the block's seconds to ``clock.times["name"]`` while ``recording``."""

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.recording = False
        self.times: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        if self.sync:
            torch.cuda.synchronize()
        if self.recording:
            self.times.setdefault(name, []).append(time.perf_counter() - t0)


@torch.no_grad()
def stage_times(model: FusionDetector, batch: FusionBatch, runs: int, sync: bool) -> dict[str, list[float]]:
    """Seconds per named stage over ``runs`` calls (after one warm-up), composed like ``predict``."""
    clock = StageClock(sync)
    for i in range(runs + 1):
        clock.recording = i > 0
        present = model.active(batch)
        feats: dict[str, torch.Tensor] = {}
        for m in ("lidar", "radar"):
            if m in present:
                with clock(f"voxelize_{m}"):
                    vox = model.voxelize(batch, m, present[m])
                with clock(f"{m}_encoder"):
                    feats[m] = model.encode_points(m, vox)
        if "camera" in present:
            with clock("camera_encoder"):
                img = model.camera_backbone(batch, present["camera"])
            with clock("view_transform"):
                feats["camera"] = model.view_transform(batch, present["camera"], img)[0]
        with clock("fuser"):
            fused = model.fuse(feats, present)
        with clock("head"):
            out = model.head_forward(fused)
        with clock("postprocess"):
            model.decode(out)
    return clock.times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config", nargs="?", default="small", help="small, bevfusion or a model YAML")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--image-hw", type=int, nargs=2, default=None, help="default 128 352 (small) / 256 704")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = {"small": small_config, "bevfusion": bevfusion_config}
    cfg = presets[args.config]() if args.config in presets else load_model_config(args.config)
    hw = tuple(args.image_hw or ((256, 704) if args.config == "bevfusion" else (128, 352)))
    model = build_detector(cfg).eval().to(args.device)
    print(f"{'part':<28}{'params':>12}")
    for name, part in [
        *model.encoders.items(),
        ("fuser", model.fuser),
        ("decoder", model.decoder),
        ("head", model.head),
    ]:
        print(f"{name:<28}{sum(p.numel() for p in part.parameters()):>12,}")
    print(f"{'total':<28}{sum(p.numel() for p in model.parameters()):>12,}")
    batch = random_batch(cfg, image_hw=hw).to(args.device)  # type: ignore[arg-type]
    stages = stage_times(model, batch, args.runs, args.device.startswith("cuda"))
    print(f"batch 1, grid {cfg.grid.shape}, images {hw}, threads {torch.get_num_threads()}, {args.runs} runs")
    for name, ts in stages.items():
        print(f"{name:<28}{1000 * float(np.median(ts)):>10.1f} ms median")
    total = [sum(ts[i] for ts in stages.values()) for i in range(args.runs)]
    print(f"{'total':<28}{1000 * float(np.median(total)):>10.1f} ms median (min {1000 * min(total):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
