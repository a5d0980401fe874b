"""The ``sensorfuse`` command line: a table of subcommands, each living in its own module.

Every subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and imports its heavy
dependencies (torch, the devkit) inside ``run``, so ``sensorfuse --help`` stays fast. The CLI holds no logic
of its own.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

from sensorfuse.errors import SensorfuseError

#: subcommand → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("sensorfuse.synth.cli", "generate a synthetic world in the nuScenes on-disk format"),
    "sync-report": ("sensorfuse.sync.cli", "per-sensor time offsets, gaps and ordering over a dataset"),
    "calib": ("sensorfuse.calib.cli", "calibration checks and overlay images"),
    "train": ("sensorfuse.engine.train_cli", "train a fusion detector"),
    "evaluate": ("sensorfuse.engine.evaluate_cli", "official nuScenes detection metrics (mAP, NDS)"),
    "replay": ("sensorfuse.replay.cli", "replay a recorded drive in timestamp order with visualisation"),
    "corrupt": (
        "sensorfuse.corrupt.cli",
        "write a corrupted copy of a scene to look at; list the corruption catalog",
    ),
    "drive": ("sensorfuse.sources.cli", "recorded drives (MCAP, rosbag2, ROS 1): info"),
    "bench": ("sensorfuse.bench.cli", "benchmarks: latency per fusion stage, ops, loading"),
    "export": ("sensorfuse.export_cli", "export a model's stages as ONNX, or a recording as MCAP / rosbag2"),
    "demo": ("sensorfuse.demo", "the whole pipeline end to end on the embedded synthetic world"),
}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` and staging-folder cleanup runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorfuse", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    args.argv = argv  # the exact command line, for outputs that record how they were made
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except SensorfuseError as e:
        print(f"sensorfuse {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sensorfuse {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"sensorfuse {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `sensorfuse ... | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
