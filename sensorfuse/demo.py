"""``sensorfuse demo``: the main job end to end on the embedded synthetic world.

1. generate the default synthetic world (nuScenes format) into ``datasets/synth-mini``;
2. train the small CPU config briefly;
3. evaluate on ``mini_val`` with the official devkit metrics (mAP, NDS);
4. replay one val scene to MP4 + Rerun with the trained model;
5. print the per-stage latency table.

Every step is a plain ``sensorfuse`` subcommand (printed before it runs, so each can be re-run by hand) and is
skipped when its output already exists, so an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_DATAROOT = Path("datasets/synth-mini")
DEFAULT_OUT = Path("runs/demo")
VERSION = "v1.0-mini"
VAL_SCENE = "scene-0103"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataroot", type=Path, default=DEFAULT_DATAROOT, help="where the synthetic world goes"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="run folder (checkpoints, eval, replay, latency)"
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps (small config, CPU)")
    parser.add_argument("--fresh", action="store_true", help="redo every step even if its output exists")


def _step(title: str, argv: list[str], done: Path | None, fresh: bool) -> None:
    from sensorfuse.cli import main as cli_main
    from sensorfuse.errors import SensorfuseError

    print(f"\n=== {title}\n$ sensorfuse {' '.join(argv)}", flush=True)
    if done is not None and done.exists() and not fresh:
        print(f"(skipped: {done} exists; pass --fresh to redo)")
        return
    t0 = time.perf_counter()
    rc = cli_main(argv)
    if rc != 0:
        raise SensorfuseError(f"step '{title}' failed with exit code {rc}")
    print(f"({title}: {time.perf_counter() - t0:.1f} s)")


def run(args: argparse.Namespace) -> int:
    root, out, fresh = Path(args.dataroot), Path(args.out), bool(args.fresh)
    run_dir = out / "train"
    ckpt = run_dir / "checkpoints" / "last.pt"
    _step(
        "1/5 synthetic world",
        ["synth", "--out", str(root), "--version", VERSION] + (["--overwrite"] if fresh else []),
        root / VERSION / "sample.json",
        fresh,
    )
    _step(
        "2/5 train (small config, CPU)",
        [
            "train",
            "--config",
            "sensorfuse/configs/synth_small.yaml",
            f"data.dataroot={root}",
            f"optim.max_steps={args.steps}",
            f"runtime.out_dir={run_dir}",
        ],
        ckpt,
        fresh,
    )
    _step(
        "3/5 evaluate (official nuScenes metrics)",
        [
            "evaluate",
            "--checkpoint",
            str(ckpt),
            "--dataroot",
            str(root),
            "--version",
            VERSION,
            "--split",
            "mini_val",
            "--out",
            str(out / "eval"),
        ],
        out / "eval" / "metrics_summary.json",
        fresh,
    )
    _step(
        "4/5 replay a val scene (MP4 + Rerun)",
        [
            "replay",
            "--dataroot",
            str(root),
            "--version",
            VERSION,
            "--scene",
            VAL_SCENE,
            "--checkpoint",
            str(ckpt),
            "--speed",
            "0",
            "--out",
            str(out / "replay"),
        ],
        out / "replay" / "detections.jsonl",
        fresh,
    )
    _step(
        "5/5 per-stage latency",
        [
            "bench",
            "latency",
            "--config",
            "sensorfuse/configs/synth_small.yaml",
            "--dataroot",
            str(root),
            "--frames",
            "20",
            "--out",
            str(out / "latency"),
        ],
        None,
        fresh,
    )
    print(f"\nDemo done. Outputs under {out}/ (eval report: {out}/eval/report.md).")
    return 0
