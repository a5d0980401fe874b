"""``sensorfuse replay``: replay a recorded drive in timestamp order with detections and visualisation.

Examples::

    sensorfuse replay --dataroot datasets/synth-mini --version v1.0-mini --scene scene-0103 --out runs/replay --no-model
    sensorfuse replay ... --checkpoint runs/demo/train/checkpoints/last.pt --speed 0 \\
        --drop CAM_FRONT@4s-9s --delay RADAR_FRONT=80ms
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataroot", type=Path, required=True, help="nuScenes-format dataset folder")
    parser.add_argument("--version", default="v1.0-mini", help="table folder (default v1.0-mini)")
    parser.add_argument("--scene", required=True, help="scene name, e.g. scene-0103")
    parser.add_argument("--out", type=Path, required=True, help="output folder (JSONL, MP4, .rrd, latency)")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="trained checkpoint (loaded with weights_only=True)")
    model.add_argument(
        "--no-model", action="store_true", help="no model: show the ground truth (look at data)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="1.0 = real time, 2 = twice as fast, 0 = as fast as possible"
    )
    parser.add_argument(
        "--trigger",
        choices=("keyframe", "sweep"),
        default="keyframe",
        help="assemble a frame at each LIDAR_TOP keyframe (2 Hz, default) or at every LiDAR sweep (20 Hz)",
    )
    parser.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="CHANNEL[@START-END]",
        help="drop a sensor's messages, e.g. CAM_FRONT@4s-9s (times from the scene start, with a unit: us, ms "
        "or s; no window = all)",
    )
    parser.add_argument(
        "--delay",
        action="append",
        default=[],
        metavar="CHANNEL=DURATION",
        help="delay arrivals, e.g. RADAR_FRONT=80ms (a unit is required: us, ms or s)",
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument(
        "--min-score", type=float, default=0.3, help="detections below this score are not output"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-mp4", action="store_true", help="do not write replay.mp4")
    parser.add_argument("--no-rerun", action="store_true", help="do not write replay.rrd")
    parser.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
        help="camera image size for --no-model (with a checkpoint, the checkpoint's size is used)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sensorfuse.data.config import SampleConfig
    from sensorfuse.replay.pipeline import ReplayOptions, run_replay
    from sensorfuse.replay.stream import FaultPlan

    faults = FaultPlan.parse(args.drop, args.delay)
    predict = None
    sample_cfg = SampleConfig(on_missing="drop_sensor")
    if args.checkpoint is not None:
        from sensorfuse.engine.runner import ModelRunner

        runner = ModelRunner.from_checkpoint(args.checkpoint, device=args.device)
        runner.warmup()  # JIT/allocator warm-up so the first frame's latency is not compile time
        predict = runner.predict_sample
        sample_cfg = replace(runner.sample_config, on_missing="drop_sensor")
    elif args.image_size is not None:
        sample_cfg = replace(sample_cfg, image_size=tuple(args.image_size))
    opts = ReplayOptions(
        dataroot=args.dataroot, version=args.version, scene=args.scene, out=args.out, speed=args.speed,
        trigger=args.trigger, faults=faults, sample=sample_cfg, max_frames=args.max_frames,
        mp4=not args.no_mp4, rerun=not args.no_rerun, min_score=args.min_score, device=args.device,
    )  # fmt: skip
    summary = run_replay(opts, predict)
    lat = summary.latency.get("end_to_end", {})
    print(
        f"replayed {summary.frames} frames ({summary.keyframes} keyframes) of {args.scene}; "
        f"{summary.frames_with_missing} with missing sensors; end to end p50 {lat.get('p50', float('nan')):.1f} ms"
    )
    for name, path in summary.outputs.items():
        print(f"  {name}: {path}")
    if summary.score:
        print(f"  keyframe matches (2 m): {summary.score['all']}")
    return 0
