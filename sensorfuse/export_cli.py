"""``sensorfuse export FORMAT``: a trained model's network stages as ONNX graphs, or a recording as MCAP.

sensorfuse export onnx --checkpoint C --out DIR            (sensorfuse/deploy, docs/deploy.md)
sensorfuse export mcap --dataroot D --scene S --out s.mcap (sensorfuse/sources, docs/sources.md)
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sensorfuse.deploy.cli import add_onnx_arguments
    from sensorfuse.sources.cli import add_mcap_arguments

    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    add_onnx_arguments(
        sub.add_parser("onnx", help="one ONNX graph per network stage, checked against PyTorch")
    )
    add_mcap_arguments(
        sub.add_parser(
            "mcap", help="a nuScenes-format scene (or any recording) → MCAP / rosbag2 .db3 / Foxglove"
        )
    )


def run(args: argparse.Namespace) -> int:
    if args.format == "onnx":
        from sensorfuse.deploy.cli import run_onnx

        return run_onnx(args)
    from sensorfuse.sources.cli import run_mcap

    return run_mcap(args)
