"""``sensorfuse bench``: ``latency`` (per fusion stage, here), ``ops`` and ``loading`` (their own modules).

Examples::

    sensorfuse bench latency --config sensorfuse/configs/synth_small.yaml --frames 30 --out runs/latency
    sensorfuse bench latency --config A.yaml --compare B.yaml --sensors all lidar camera,radar --out runs/lat
    sensorfuse bench latency --config A.yaml --dataroot datasets/synth-mini --device cuda --out runs/lat
    sensorfuse bench latency --config sensorfuse/configs/synth_small.yaml --runtime eager,compile,onnxruntime --out runs/lat
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from sensorfuse.deploy.cli import add_runtime_arguments

#: sub-subcommands implemented in other modules: name → module with ``main(argv) -> int``.
DELEGATED: dict[str, str] = {
    "ops": "sensorfuse.bench.ops",
    "loading": "sensorfuse.bench.loading",
    "detect": "sensorfuse.bench.detect",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    lat = sub.add_parser("latency", help="per-stage latency (p50/p90/p99/mean), batch 1")
    lat.add_argument(
        "--config", type=Path, default=None, help="training config YAML (default: built-in defaults)"
    )
    lat.add_argument("--compare", default="", help="more configs to compare, comma-separated paths")
    lat.add_argument(
        "--sensors", nargs="+", default=None, metavar="SUBSET",
        help="sensor subsets to time, each comma-separated or 'all' (e.g. --sensors all lidar camera,radar)",
    )  # fmt: skip
    lat.add_argument("--checkpoint", type=Path, default=None, help="trained weights (default: random init)")
    lat.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    lat.add_argument("--frames", type=int, default=50, help="timed frames per run")
    lat.add_argument("--warmup", type=int, default=5, help="untimed warm-up frames per run")
    lat.add_argument(
        "--dataroot", type=Path, default=None, help="load real keyframes (times load + sync too)"
    )
    lat.add_argument("--version", default="v1.0-mini", help="table folder of --dataroot")
    lat.add_argument("--split", default="all", help="samples of --dataroot to cycle through")
    lat.add_argument(
        "--drive", type=Path, default=None, help="a recorded drive (MCAP, rosbag2, ROS 1): its sweeps in turn"
    )
    lat.add_argument("--rig", type=Path, default=None, help="rig file of --drive (default: its own)")
    lat.add_argument(
        "--synthetic-points",
        type=int,
        default=None,
        help="LiDAR points of the synthetic sample (default 34k per sweep)",
    )
    lat.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add_runtime_arguments(lat, several=True)  # --runtime, --onnx, --ort-*
    lat.add_argument(
        "--out", type=Path, required=True, help="output folder: latency.json, latency.md, latency.png"
    )
    lat.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. model.fuser.kind=concat)")
    for name in DELEGATED:
        # every token (also --help, --out ...) goes to the module's own parser: no option prefix here
        p = sub.add_parser(
            name, help=f"{name} benchmark (python -m {DELEGATED[name]})", add_help=False, prefix_chars="\x00"
        )
        p.add_argument("args", nargs="*")


def run(args: argparse.Namespace) -> int:
    if args.bench in DELEGATED:
        module = importlib.import_module(DELEGATED[args.bench])
        main = getattr(module, "main", None)
        if main is None:
            print(
                f"{DELEGATED[args.bench]} has no main(argv); run: python -m {DELEGATED[args.bench]}",
                file=sys.stderr,
            )
            return 2
        return int(main(list(args.args)) or 0)
    from sensorfuse.bench.latency import run_latency

    run_latency(
        args, command="sensorfuse " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    )
    return 0
