"""Loading benchmark: samples/s of full sensor samples, sensorfuse vs the naive devkit path.

``python -m sensorfuse.bench.loading --out docs/bench/loading.json [--dataroot D --version V]``

Both paths load, per keyframe, LiDAR (10 sweeps merged into the keyframe LiDAR frame), the 5 radars x 6
sweeps, the 6 cameras resized and cropped to the training resolution, and the GT boxes, through a
``torch.utils.data.DataLoader`` with 1 and 2 worker processes, in the same run:

* **sensorfuse**: :class:`sensorfuse.data.FusionDataset` (numpy readers, reduced-size JPEG decode);
* **naive**: the devkit's ``LidarPointCloud/RadarPointCloud.from_file_multisweep``, PIL decode + resize,
  ``get_sample_data`` for the boxes.

Without ``--dataroot`` a world is generated first (``sensorfuse.synth``, 1600x900 images like nuScenes).
Each figure is samples/s after one warm-up batch; per core = samples/s / workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.classes import CAMERAS, LIDAR, RADARS

log = logging.getLogger(__name__)


class NaiveDevkitDataset:
    """The straightforward devkit loader (the baseline), same outputs as :class:`FusionDataset`."""

    def __init__(self, nusc: Any, tokens: list[str], image_hw: tuple[int, int]) -> None:
        self.nusc, self.tokens, self.image_hw = nusc, tokens, image_hw

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud
        from PIL import Image

        nusc = self.nusc
        rec = nusc.get("sample", self.tokens[i])
        lidar, lidar_t = LidarPointCloud.from_file_multisweep(nusc, rec, LIDAR, LIDAR, nsweeps=10)
        radars = [RadarPointCloud.from_file_multisweep(nusc, rec, ch, LIDAR, nsweeps=6) for ch in RADARS]
        h, w = self.image_hw
        images = []
        for ch in CAMERAS:
            img = Image.open(nusc.get_sample_data_path(rec["data"][ch])).convert("RGB")
            s = max(w / img.width, h / img.height)
            rw, rh = round(img.width * s), round(img.height * s)
            img = img.resize((rw, rh), Image.Resampling.BILINEAR)
            left = (rw - w) // 2
            images.append(np.asarray(img.crop((left, rh - h, left + w, rh))))
        _, boxes, _ = nusc.get_sample_data(rec["data"][LIDAR])
        return {
            "lidar": np.concatenate([lidar.points, lidar_t], axis=0).T,
            "radar": np.concatenate([r[0].points for r in radars], axis=1).T,
            "images": np.stack(images),
            "boxes": boxes,
        }


def _first(batch: list[Any]) -> Any:
    return batch


def _rate(dataset: Any, workers: int, collate: Any, n: int) -> dict[str, float]:
    """Samples/s over ``n`` items after a warm-up item, batch size 1."""
    from torch.utils.data import DataLoader, Subset

    total = min(len(dataset), n + 1)
    loader = DataLoader(
        Subset(dataset, list(range(total))), batch_size=1, num_workers=workers, collate_fn=collate
    )
    it = iter(loader)
    next(it)  # warm-up: worker start, first reads
    t0 = time.perf_counter()
    count = sum(1 for _ in it)
    dt = time.perf_counter() - t0
    sps = count / dt if dt > 0 else float("nan")
    return {
        "samples": count,
        "seconds": round(dt, 3),
        "samples_per_s": round(sps, 3),
        "per_core": round(sps / max(workers, 1), 3),
    }


def _world(dataroot: str | None, version: str, scratch: Path, seconds: float) -> tuple[Path, str]:
    """The dataroot to load; without one, generate a world in a **child process** (forking DataLoader
    workers after the generator's thread pools ran in this process can deadlock)."""
    if dataroot:
        return Path(dataroot), version
    out = scratch / "world"
    log.info("generating a benchmark world into %s", out)
    code = (
        "from sensorfuse.synth import SynthConfig, generate; "
        f"generate({str(out)!r}, SynthConfig(scenes=1, scene_seconds={seconds!r}, image_width=1600, image_height=900))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return out, "v1.0-mini"


def run_benchmark(
    dataroot: str | None,
    version: str,
    samples: int,
    workers: list[int],
    image_hw: tuple[int, int],
    scene_seconds: float,
) -> dict[str, Any]:
    from nuscenes.nuscenes import NuScenes

    from sensorfuse.data import FusionDataset, NuScenesIndex, SampleConfig
    from sensorfuse.structures import collate

    with tempfile.TemporaryDirectory(prefix="sensorfuse-bench-") as tmp:
        root, ver = _world(dataroot, version, Path(tmp), scene_seconds)
        index = NuScenesIndex(root, ver, cache_dir=Path(tmp) / "cache")
        tokens = index.split_tokens("all")
        tokens = (tokens * (1 + (samples + 1) // max(len(tokens), 1)))[: samples + 1]
        ours = FusionDataset(index, tokens, SampleConfig(image_size=image_hw))
        naive = NaiveDevkitDataset(NuScenes(version=ver, dataroot=str(root), verbose=False), tokens, image_hw)
        results: dict[str, Any] = {"sensorfuse": {}, "naive_devkit": {}}
        for w in workers:
            results["sensorfuse"][str(w)] = _rate(ours, w, collate, samples)
            results["naive_devkit"][str(w)] = _rate(naive, w, _first, samples)
            log.info(
                "workers=%d sensorfuse %s naive %s",
                w,
                results["sensorfuse"][str(w)],
                results["naive_devkit"][str(w)],
            )
        speedup = {
            str(w): round(
                results["sensorfuse"][str(w)]["per_core"] / results["naive_devkit"][str(w)]["per_core"], 2
            )
            for w in workers
        }
        return {
            "what": "samples/s of full samples (LiDAR 10 sweeps, radar 5x6 sweeps, 6 cameras, GT) via DataLoader",
            "image_hw": list(image_hw),
            "dataroot": str(dataroot)
            if dataroot
            else f"generated ({scene_seconds} s scene, 1600x900 images)",
            "samples_timed": samples,
            "results": results,
            "speedup_per_core": speedup,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
        }


def markdown(rep: dict[str, Any]) -> str:
    lines = [
        "| workers | sensorfuse samples/s | naive devkit samples/s | speed-up per core |",
        "|---:|---:|---:|---:|",
    ]
    for w, r in rep["results"]["sensorfuse"].items():
        n = rep["results"]["naive_devkit"][w]
        lines.append(
            f"| {w} | {r['samples_per_s']:.2f} | {n['samples_per_s']:.2f} | {rep['speedup_per_core'][w]:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", required=True, help="JSON result file")
    p.add_argument("--dataroot", default=None, help="existing nuScenes dataroot (default: generate one)")
    p.add_argument("--version", default="v1.0-mini")
    p.add_argument("--samples", type=int, default=20, help="samples timed per configuration")
    p.add_argument("--workers", default="1,2", help="comma-separated DataLoader worker counts")
    p.add_argument("--image-size", type=int, nargs=2, default=(256, 704), metavar=("H", "W"))
    p.add_argument("--scene-seconds", type=float, default=5.0, help="length of the generated scene")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    from sensorfuse.utils.atomic import atomic_write_json

    torch.set_num_threads(1)  # the main process only iterates the loader

    rep = run_benchmark(
        args.dataroot,
        args.version,
        args.samples,
        [int(w) for w in args.workers.split(",")],
        tuple(args.image_size),
        args.scene_seconds,
    )
    atomic_write_json(args.out, rep, indent=2)
    print(markdown(rep), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
