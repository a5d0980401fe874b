"""``sensorfuse evaluate --checkpoint CKPT --dataroot ROOT --version V --split SPLIT --out DIR
[--sensors lidar,camera] [--robustness] [--max-missing F]``; shard inference with ``torchrun --nproc_per_node
N -m sensorfuse evaluate ...``.

``--drive FILE [FILE ...] [--rig RIG]`` evaluates recorded drives with annotations instead of a dataroot split
(:mod:`sensorfuse.engine.evaluate_drive`).

``--corruptions all|FAMILY|NAME,... [--severities 1,2,3] [--baseline C2] [--seed S]`` runs the corruption suite
instead (one official evaluation per corruption x severity, resumable per row, table + heat map):
:mod:`sensorfuse.engine.corrupt_suite`, ``docs/robustness.md``.

Everything that can be checked is checked before the first sample (:mod:`sensorfuse.engine.eval_preflight`).
The whole evaluation (main scenario, robustness rows and tables) is built in a staging folder next to
``--out`` and published as a whole by rank 0 (:func:`sensorfuse.utils.atomic.atomic_dir`): ``--out`` holds
one complete evaluation, the new one or the previous one, whatever stops the run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


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
    from sensorfuse.data.recording import add_drive_arguments

    add_drive_arguments(parser, "with annotations, instead of --dataroot (docs/sources.md)")
    parser.add_argument("--sensors", default=None, help="comma-separated subset of lidar,camera,radar to use")
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="also evaluate every sensor subset, LiDAR beam reduction, a missing camera/radar and a stale LiDAR",
    )
    parser.add_argument(
        "--max-missing",
        type=float,
        default=None,
        metavar="FRACTION",
        help="fail when a sensor loses more than this share of its samples to data faults "
        "(default: the config's data.max_missing_fraction; 1.0 = never fail)",
    )
    suite = parser.add_argument_group("corruption suite (docs/robustness.md)")
    suite.add_argument(
        "--corruptions",
        default=None,
        metavar="all|FAMILY|NAME,...",
        help="evaluate the corruption suite instead: all, a family (failures, lidar, camera, misalign, radar) "
        "or corruption names; one official evaluation per corruption x severity, resumable",
    )
    suite.add_argument("--severities", default="1,2,3", help="severities to evaluate (default 1,2,3)")
    suite.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="checkpoint of the baseline model for the corruption error (CE)",
    )
    suite.add_argument("--seed", type=int, default=0, help="seed of the corrupted inputs (default 0)")
    suite.add_argument(
        "--name",
        default=None,
        help="the model's name in the suite folder: tables go to OUT/tables/NAME/ (default: checkpoint stem + hash)",
    )
    suite.add_argument(
        "--allow-code-change",
        action="store_true",
        help="reuse finished rows scored by other code (for changes known not to alter scores); by default "
        "they are evaluated again",
    )
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    from sensorfuse.deploy.cli import add_runtime_arguments

    add_runtime_arguments(parser)  # --runtime eager|compile|onnxruntime|tensorrt, --onnx, --ort-*
    parser.add_argument("--no-plots", action="store_true", help="skip the devkit's PR/TP curves")


def run(args: argparse.Namespace) -> int:
    import contextlib
    import math
    from dataclasses import replace

    from sensorfuse.data import NuScenesIndex
    from sensorfuse.engine.distributed import cleanup_distributed, setup_distributed
    from sensorfuse.engine.eval_preflight import EvalPlan, preflight
    from sensorfuse.engine.evaluate import (
        Evaluator,
        load_model,
        run_scenarios,
        scenarios_for,
        write_robustness,
    )
    from sensorfuse.engine.metrics import load_devkit
    from sensorfuse.engine.robustness import parse_sensors
    from sensorfuse.errors import ConfigError
    from sensorfuse.utils.atomic import atomic_dir

    if args.max_missing is not None and not (math.isfinite(args.max_missing) and 0 <= args.max_missing <= 1):
        raise ConfigError(f"--max-missing {args.max_missing}: expected a share in [0, 1] (1.0 = never fail)")
    info = setup_distributed(args.device)
    try:
        model, cfg = load_model(args.checkpoint, info.device)
        if args.runtime != "eager":  # the network stages through another runtime; the rest stays the same
            from sensorfuse.deploy.runtime import OrtOptions, wrap

            ort = OrtOptions(threads=args.ort_threads, opt_level=args.ort_opt, spinning=args.ort_spinning)
            model = wrap(model, args.runtime, cfg.data.sample, onnx_dir=args.onnx, ort=ort)
        if args.rig is not None and args.drive is None:
            raise ConfigError("--rig goes with --drive (a nuScenes dataroot carries its own calibration)")
        data = replace(
            cfg.data,
            dataroot=str(args.dataroot or cfg.data.dataroot),
            version=args.version or cfg.data.version,
            val_split=args.split or cfg.data.val_split,
            max_missing_fraction=cfg.data.max_missing_fraction
            if args.max_missing is None
            else args.max_missing,
        )
        cfg = replace(cfg, data=data)
        if args.drive is not None:
            from sensorfuse.engine.evaluate_drive import run_drives

            return run_drives(args, info, model, cfg)
        if args.corruptions is not None:
            if args.robustness or args.sensors:
                raise ConfigError(
                    "--corruptions: evaluates the model's own sensors; drop --robustness / --sensors"
                )
            from sensorfuse.engine.corrupt_suite import run_suite

            return run_suite(args, info, model, cfg)
        out = args.out or Path(args.checkpoint).resolve().parent.parent / "eval"
        sensors = parse_sensors(args.sensors) if args.sensors else None
        scenarios = scenarios_for(model.sensors, sensors, bool(args.robustness))
        index = NuScenesIndex(data.dataroot, data.version)
        plan = EvalPlan(
            split=data.val_split,
            sensors=scenarios[0].sensors,
            out=out,
            scenarios=len(scenarios),
            boxes_per_sample=cfg.model.head.max_detections,
            max_missing=data.max_missing_fraction,
        )
        nusc = preflight(index, data.sample, plan, info, lambda: load_devkit(data.dataroot, data.version))
        ev = Evaluator(model, cfg, index, info, args.batch_size, args.workers)
        # rank 0 writes into a staging folder, published whole when everything succeeded
        staging = atomic_dir(out, overwrite=True) if info.is_main else contextlib.nullcontext(out)
        with staging as stage:
            done = run_scenarios(ev, nusc, data.val_split, scenarios, stage, render_curves=not args.no_plots)
            table = (
                write_robustness([(r.name, r.summary) for r in done], stage)
                if done and args.robustness
                else ""
            )
        if info.is_main:
            log.info("published the evaluation to %s", out)
            main, s = done[0], done[0].summary
            print(
                f"{main.name}: mAP {s['mean_ap']:.4f}  NDS {s['nd_score']:.4f}  (report: {out / 'report.md'})"
            )
            print(
                f"{main.name}: sensors used: {', '.join(main.used) or 'none'}; {main.dropped.summary_line()}"
            )
            if args.robustness:
                print(table)
        return 0
    finally:
        cleanup_distributed()
