"""``sensorfuse replay``: replay a recorded drive in timestamp order with detections and visualisation.

Examples::

    sensorfuse replay --dataroot datasets/synth-mini --version v1.0-mini --scene scene-0103 --out runs/replay --no-model
    sensorfuse replay --drive drive.mcap --checkpoint C --out runs/replay-bag   # a recorded drive (rig beside it)
    sensorfuse replay ... --checkpoint runs/demo/train/checkpoints/last.pt --speed 0 \\
        --drop CAM_FRONT@4s-9s --delay RADAR_FRONT=80ms
    sensorfuse replay ... --checkpoint C --trigger sweep --speed 0 --runtime onnxruntime
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sensorfuse.data.recording import add_recording_arguments
from sensorfuse.deploy.cli import add_runtime_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_recording_arguments(parser)
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
    add_runtime_arguments(parser)  # --runtime eager|compile|onnxruntime|tensorrt, --onnx, --ort-*
    parser.add_argument("--no-mp4", action="store_true", help="do not write replay.mp4")
    parser.add_argument("--no-rerun", action="store_true", help="do not write replay.rrd")
    parser.add_argument(
        "--no-mcap", action="store_true", help="do not write detections.mcap (boxes for Foxglove)"
    )
    parser.add_argument(
        "--corrupt", default=None, metavar="NAME:SEVERITY",
        help="corrupt every frame live, e.g. camera_fog:3 (`sensorfuse corrupt --list`, docs/robustness.md)",
    )  # fmt: skip
    parser.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
        help="camera image size for --no-model (with a checkpoint, the checkpoint's size is used)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sensorfuse.data.config import SampleConfig
    from sensorfuse.data.recording import fit_to_recording, open_recordings, recording_names
    from sensorfuse.engine.distributed import cleanup_distributed, setup_distributed
    from sensorfuse.errors import ConfigError
    from sensorfuse.replay.pipeline import ReplayOptions, run_replay
    from sensorfuse.replay.stream import FaultPlan

    faults = FaultPlan.parse(args.drop, args.delay)
    several = len(recording_names(args)) > 1  # checked before the model loads
    predict = None
    sample_cfg = SampleConfig(on_missing="drop_sensor")
    runner = None
    if args.checkpoint is not None:
        from sensorfuse.deploy.runtime import OrtOptions
        from sensorfuse.engine.runner import ModelRunner

        ort = OrtOptions(threads=args.ort_threads, opt_level=args.ort_opt, spinning=args.ort_spinning)
        runner = ModelRunner.from_checkpoint(
            args.checkpoint, device=args.device, runtime=args.runtime, onnx_dir=args.onnx, ort=ort
        )
        runner.warmup()  # JIT/allocator warm-up so the first frame's latency is not compile time
        predict = runner.predict_sample
        sample_cfg = replace(runner.sample_config, on_missing="drop_sensor")
    elif args.runtime != "eager":
        raise ConfigError(f"--runtime {args.runtime}: needs a model (--checkpoint), not --no-model")
    elif args.image_size is not None:
        sample_cfg = replace(sample_cfg, image_size=tuple(args.image_size))
    from sensorfuse.corrupt.catalog import for_replay

    corrupt, sample_cfg = for_replay(args.corrupt, args.trigger, sample_cfg)  # --corrupt NAME:K
    info = setup_distributed("cpu" if args.device == "auto" else args.device)
    try:
        for name, drive in open_recordings(args, sample_cfg, info.rank, info.world_size):
            cfg = fit_to_recording(sample_cfg, drive)
            opts = ReplayOptions(
                out=args.out / name if several else args.out, speed=args.speed,
                trigger=args.trigger, faults=faults, sample=cfg, max_frames=args.max_frames,
                mp4=not args.no_mp4, rerun=not args.no_rerun, mcap=not args.no_mcap, min_score=args.min_score,
                device=args.device, corrupt=corrupt,
            )  # fmt: skip
            _report(run_replay(opts, drive, predict), name, args.runtime)
    finally:
        if runner is not None:
            runner.close()
        cleanup_distributed()
    return 0


def _report(summary: Any, name: str, runtime: str) -> None:
    lat = summary.latency.get("end_to_end", {})
    print(
        f"replayed {summary.frames} frames ({summary.keyframes} keyframes) of {name}; "
        f"{summary.frames_with_missing} with missing sensors; end to end p50 {lat.get('p50', float('nan')):.1f} ms "
        f"(runtime {runtime}); max lag behind the recording {summary.max_lag_s:.2f} s"
    )
    for output, path in summary.outputs.items():
        print(f"  {output}: {path}")
    if summary.score:
        print(f"  keyframe matches (2 m): {summary.score['all']}")
