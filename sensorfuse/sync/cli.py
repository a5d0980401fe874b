"""``sensorfuse sync-report --dataroot D --version V [--scene NAME] [--json OUT] [--markdown OUT]``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataroot", required=True, help="nuScenes dataroot (holds <version>/ and samples/)")
    parser.add_argument("--version", required=True, help="table folder, e.g. v1.0-mini")
    parser.add_argument("--scene", default=None, help="only this scene (by name, e.g. scene-0061)")
    parser.add_argument("--gap-factor", type=float, default=1.5, help="gap = step > factor x median period")
    parser.add_argument("--json", default=None, help="also write the full report (with details) as JSON here")
    parser.add_argument("--markdown", default=None, help="also write the Markdown table here")


def run(args: argparse.Namespace) -> int:
    from sensorfuse.sync.report import build_sync_report, report_markdown
    from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

    report = build_sync_report(args.dataroot, args.version, scene=args.scene, gap_factor=args.gap_factor)
    text = report_markdown(report)
    print(text, end="")
    if args.json:
        atomic_write_json(args.json, report, indent=2)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    return 0
