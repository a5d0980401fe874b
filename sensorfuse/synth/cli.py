"""``sensorfuse synth``: generate a synthetic world in the nuScenes on-disk format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sensorfuse.classes import DETECTION_CLASSES
from sensorfuse.errors import ConfigError
from sensorfuse.synth.config import DEFAULT_RIG, PAYLOADS, SynthConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    parser.add_argument("--out", type=Path, required=True, help="dataroot to create")
    parser.add_argument(
        "--version", default=d.version, help="v1.0-mini | v1.0-trainval (official scene names)"
    )
    parser.add_argument("--scenes", type=int, default=d.scenes, help="number of scenes")
    parser.add_argument("--val-scenes", type=int, default=None, help="how many come from the val split")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--rig", type=Path, default=DEFAULT_RIG, help="rig YAML (default: the real nuScenes rig)"
    )
    parser.add_argument("--scene-seconds", type=float, default=d.scene_seconds)
    parser.add_argument(
        "--image-size", default=f"{d.image_width}x{d.image_height}", help="WxH, e.g. 1600x900"
    )
    parser.add_argument(
        "--classes", nargs="+", default=list(DETECTION_CLASSES), help="detection classes to spawn"
    )
    parser.add_argument(
        "--splits", type=Path, default=None, help="custom splits.json {train: [...], val: [...]}"
    )
    parser.add_argument(
        "--payload", choices=PAYLOADS, default=d.payload,
        help="full: a file per sample_data; shared: one file per channel and scene (full-sized tables, small disk)",
    )  # fmt: skip
    parser.add_argument(
        "--annotation-range",
        type=float,
        default=d.annotation_range,
        help="annotate actors within this many m",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--workers", type=int, default=0, help="parallel scene processes (0 = CPU cores)")
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    try:
        w, h = (int(v) for v in str(args.image_size).lower().split("x"))
    except ValueError:
        raise ConfigError(f"--image-size {args.image_size!r}: expected WxH, e.g. 400x224") from None
    return SynthConfig(
        version=args.version, scenes=args.scenes, seed=args.seed, scene_seconds=args.scene_seconds,
        image_width=w, image_height=h, rig_path=args.rig, classes=tuple(args.classes),
        val_scenes=args.val_scenes, splits_path=args.splits, progress=not args.no_progress, workers=args.workers,
        payload=args.payload, annotation_range=args.annotation_range,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Generate; Ctrl-C stops the workers, removes the staging folder and exits with 130 (128 + SIGINT)."""
    try:
        from sensorfuse.synth.generate import generate

        summary = generate(args.out, config_from_args(args), overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"sensorfuse synth: interrupted: nothing written to {args.out}", file=sys.stderr)
        return 130
    print(summary.format())
    return 0
