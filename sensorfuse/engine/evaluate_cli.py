"""``sensorfuse evaluate --checkpoint CKPT --dataroot ROOT --version V --split SPLIT --out DIR
[--sensors lidar,camera] [--robustness]``; shard inference with ``torchrun --nproc_per_node N -m sensorfuse
evaluate ...``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="checkpoint (.pt) written by sensorfuse train"
    )
    parser.add_argument(
        "--dataroot", type=Path, default=None, help="dataset root (default: the training config's)"
    )
    parser.add_argument(
        "--version", default=None, help="table version, e.g. v1.0-mini (default: the config's)"
    )
    parser.add_argument(
        "--split", default=None, help="mini_val, val, ... or a splits.json name (default: config val)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <checkpoint dir>/../eval)"
    )
    parser.add_argument("--sensors", default=None, help="comma-separated subset of lidar,camera,radar to use")
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="also evaluate every sensor subset, LiDAR beam reduction, a missing camera/radar and a stale LiDAR",
    )
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--no-plots", action="store_true", help="skip the devkit's PR/TP curves")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sensorfuse.data import NuScenesIndex
    from sensorfuse.engine.distributed import cleanup_distributed, setup_distributed
    from sensorfuse.engine.evaluate import (
        Evaluator,
        load_model,
        run_scenarios,
        scenarios_for,
        write_robustness,
    )
    from sensorfuse.engine.metrics import load_devkit
    from sensorfuse.engine.robustness import parse_sensors

    info = setup_distributed(args.device)
    try:
        model, cfg = load_model(args.checkpoint, info.device)
        data = replace(
            cfg.data,
            dataroot=str(args.dataroot or cfg.data.dataroot),
            version=args.version or cfg.data.version,
            val_split=args.split or cfg.data.val_split,
        )
        cfg = replace(cfg, data=data)
        out = args.out or Path(args.checkpoint).resolve().parent.parent / "eval"
        sensors = parse_sensors(args.sensors) if args.sensors else None
        scenarios = scenarios_for(model.sensors, sensors, bool(args.robustness))
        index = NuScenesIndex(data.dataroot, data.version)
        nusc = load_devkit(data.dataroot, data.version) if info.is_main else None
        ev = Evaluator(model, cfg, index, info, args.batch_size, args.workers)
        rows = run_scenarios(ev, nusc, data.val_split, scenarios, out, render_curves=not args.no_plots)
        if info.is_main:
            name, s = rows[0]
            print(f"{name}: mAP {s['mean_ap']:.4f}  NDS {s['nd_score']:.4f}  (report: {out / 'report.md'})")
            if args.robustness:
                print(write_robustness(rows, out))
        return 0
    finally:
        cleanup_distributed()
