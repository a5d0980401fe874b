"""Parameter counts per part and CPU forward time of a model preset on a random batch.

``python -m sensorfuse.models.summary [small|bevfusion|path.yaml] [--runs N] [--threads T]``
"""

from __future__ import annotations

import argparse

import torch

from sensorfuse.models.build import build_detector
from sensorfuse.models.config import load_model_config
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.fake import fake_sample
from sensorfuse.models.presets import bevfusion_config, small_config
from sensorfuse.structures import FusionBatch, collate
from sensorfuse.utils.timing import StageTimer, TimingSummary


def stage_times(model: FusionDetector, batch: FusionBatch, runs: int, device: str = "cpu") -> TimingSummary:
    """Per-stage times of ``model.predict(batch)`` over ``runs`` calls after one untimed warm-up.

    The model's own ``predict`` runs, with the timer as its stage hook (:mod:`sensorfuse.models.stages`).
    """
    timer = StageTimer(device)
    model.predict(batch)
    for _ in range(runs):
        with timer.frame():
            model.predict(batch, stages=timer)
    return timer.summary()


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
    g = cfg.grid
    extent = max(abs(v) for v in (*g.x_range, *g.y_range))
    sample = fake_sample(image_hw=(hw[0], hw[1]), n_lidar=30_000, n_radar=300, extent=extent)
    times = stage_times(model, collate([sample]).to(args.device), args.runs, args.device)
    print(f"batch 1, grid {cfg.grid.shape}, images {hw}, threads {torch.get_num_threads()}, {args.runs} runs")
    for name, st in times.stages.items():
        print(f"{name:<28}{st.p50:>10.1f} ms median")
    total = times.end_to_end
    print(f"{'total':<28}{total.p50:>10.1f} ms median (min {total.min:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
