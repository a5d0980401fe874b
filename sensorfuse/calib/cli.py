"""``sensorfuse calib check --dataroot D --version V --sample TOKEN --out DIR``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="calib_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="calibration sanity checks and overlay images for one sample")
    check.add_argument("--dataroot", required=True, help="nuScenes dataroot")
    check.add_argument("--version", required=True, help="table folder, e.g. v1.0-mini")
    check.add_argument("--sample", required=True, help="sample token")
    check.add_argument("--out", required=True, help="output folder (report.json, overlay_<CAM>.jpg)")


def run(args: argparse.Namespace) -> int:
    from sensorfuse.calib.check import run_check

    report = run_check(args.dataroot, args.version, args.sample, args.out)
    for name, c in report["checks"].items():
        print(f"{name:16s} {'ok' if c['ok'] else 'FAILED'}")
    print(f"report: {args.out}/report.json, {len(report['overlays'])} overlay images")
    return 0 if report["ok"] else 1
