"""``sensorfuse corrupt``: write a corrupted copy of a scene's keyframes for looking at, or list the catalog.

Examples::

    sensorfuse corrupt --list
    sensorfuse corrupt --dataroot datasets/synth-mini --version v1.0-mini --scene scene-0103 \\
        --corruption camera_fog --severity 3 --out runs/corrupt-fog3 [--checkpoint C] [--max-samples 8]

Per keyframe: ``frames/NNN_<token>.jpg`` (BEV + six cameras, clean above, corrupted below, ground truth drawn)
and ``cameras/NNN_<token>_<CAMERA>.jpg`` (each corrupted image at the model's input size), plus
``summary.json`` (points, cameras and sensors removed per sample). The folder is written in a staging folder
and published whole. Images are sized as the model sees them: the checkpoint's sample settings with
``--checkpoint``, else ``--image-size``. To watch a corruption through the model, use
``sensorfuse replay ... --corrupt NAME:K``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: what an output folder of this command holds (it is replaced as a whole)
OUTPUTS = frozenset({"frames", "cameras", "summary.json"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--list", action="store_true", help="list the corruptions and their severities, then exit"
    )
    parser.add_argument("--dataroot", type=Path, help="nuScenes-format dataset folder")
    parser.add_argument("--version", default="v1.0-mini", help="table folder (default v1.0-mini)")
    parser.add_argument("--scene", help="scene name, e.g. scene-0103")
    parser.add_argument("--corruption", help="corruption name (see --list)")
    parser.add_argument("--severity", type=int, default=1, help="1, 2 or 3 (default 1)")
    parser.add_argument("--out", type=Path, help="output folder (replaced as a whole)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corrupted inputs (default 0)")
    parser.add_argument("--max-samples", type=int, default=None, help="stop after N keyframes")
    parser.add_argument("--checkpoint", type=Path, default=None, help="use this model's sample settings")
    parser.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
        help="camera image size without --checkpoint (default 256 704)",
    )  # fmt: skip


def _listing() -> str:
    from sensorfuse.corrupt.catalog import CATALOG

    lines = [f"{'name':28s} {'family':9s} severities (1 / 2 / 3)", "-" * 90]
    for c in CATALOG.values():
        lines.append(f"{c.name:28s} {c.family:9s} {' / '.join(c.levels)}   [{c.reference}]")
    return "\n".join(lines)


def _sample_config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from sensorfuse.data.config import SampleConfig

    cfg = SampleConfig()
    if args.checkpoint is not None:
        from sensorfuse.engine.checkpoint import load_checkpoint
        from sensorfuse.engine.config import config_from_dict

        ckpt = load_checkpoint(args.checkpoint)
        cfg = config_from_dict(ckpt["config"], where=f"{args.checkpoint} [config]").data.sample
    elif args.image_size is not None:
        cfg = replace(cfg, image_size=tuple(args.image_size))
    return replace(cfg, on_missing="drop_sensor", load_gt=True)


def _check_out(out: Path) -> None:
    from sensorfuse.utils.atomic import check_replaceable

    check_replaceable(out, OUTPUTS, "a `sensorfuse corrupt` output")


def _stats(sample: Any) -> dict[str, Any]:
    return {
        "lidar_points": None if sample.lidar is None else len(sample.lidar),
        "radar_points": None if sample.radar is None else len(sample.radar),
        "cameras_present": [] if sample.cameras is None else [
            c for c, p in zip(sample.cameras.channels, sample.cameras.present) if p
        ],
        "missing": dict(sample.meta.missing),
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(_listing())
        return 0
    import cv2
    import numpy as np
    from tqdm import tqdm

    from sensorfuse.corrupt.catalog import apply, get, rng_for
    from sensorfuse.corrupt.misalign import reload_for
    from sensorfuse.data import NuScenesIndex, load_sample
    from sensorfuse.errors import ConfigError
    from sensorfuse.replay.render import bev_image, camera_tiles, mosaic_frame
    from sensorfuse.utils.atomic import atomic_dir, atomic_write_bytes, atomic_write_json

    missing = [
        f"--{k.replace('_', '-')}"
        for k in ("dataroot", "scene", "corruption", "out")
        if getattr(args, k) is None
    ]
    if missing:
        raise ConfigError(f"sensorfuse corrupt: {', '.join(missing)} required (or --list)")
    c = get(args.corruption)
    if args.severity not in c.severities:
        raise ConfigError(f"--severity {args.severity}: {c.name} has severities {list(c.severities)}")
    cfg = _sample_config(args)
    index = NuScenesIndex(args.dataroot, args.version)
    tokens = index.scene_tokens(args.scene)[: args.max_samples]
    _check_out(args.out)

    def view(sample: Any, label: str) -> np.ndarray:
        lidar = None if sample.lidar is None else sample.lidar.points
        radar = None if sample.radar is None else sample.radar.points
        bev = bev_image(lidar, radar, None, sample.gt)
        return mosaic_frame(bev, camera_tiles(sample.cameras, None, sample.gt), [label])

    def jpeg(img_bgr: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise ConfigError("OpenCV could not encode a JPEG")
        return buf.tobytes()

    per_sample = []
    with atomic_dir(args.out, overwrite=True) as stage:
        for n, token in enumerate(tqdm(tokens, desc=f"{c.name}@{args.severity}", unit="sample")):
            clean = load_sample(index, token, cfg)
            rng = rng_for(args.seed, c.name, args.severity, token)
            bad = apply(clean, c.name, args.severity, rng, reload_for(index, token, cfg))
            stem = f"{n:03d}_{token[:12]}"
            frame = np.concatenate([view(clean, "clean"), view(bad, f"{c.name} severity {args.severity}")])
            atomic_write_bytes(stage / "frames" / f"{stem}.jpg", jpeg(frame))
            if bad.cameras is not None:
                for i, ch in enumerate(bad.cameras.channels):
                    if bad.cameras.present[i]:
                        img = cv2.cvtColor(np.ascontiguousarray(bad.cameras.images[i]), cv2.COLOR_RGB2BGR)
                        atomic_write_bytes(stage / "cameras" / f"{stem}_{ch}.jpg", jpeg(img))
            per_sample.append({"token": token, "clean": _stats(clean), "corrupted": _stats(bad)})
        atomic_write_json(
            stage / "summary.json",
            {
                "corruption": c.name,
                "severity": args.severity,
                "level": c.levels[args.severity - 1],
                "reference": c.reference,
                "seed": args.seed,
                "scene": args.scene,
                "samples": per_sample,
            },
            indent=1,
        )
    print(
        f"wrote {len(per_sample)} corrupted keyframes of {args.scene} ({c.name} severity {args.severity}) to {args.out}"
    )
    return 0
