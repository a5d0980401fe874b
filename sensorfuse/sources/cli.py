"""``sensorfuse drive info FILE [--rig RIG]`` and ``sensorfuse export mcap ...``.

``drive`` is this module's command; ``export mcap`` is one format of :mod:`sensorfuse.export_cli`. Examples::

    sensorfuse drive info drive.mcap                       # topics, rates, span, what the rig resolves
    sensorfuse drive info bag_folder --rig car.yaml --write-rig car_checked.yaml
    sensorfuse export mcap --dataroot datasets/synth-mini --version v1.0-mini --scene scene-0103 --out s.mcap
    sensorfuse export mcap --dataroot D --version V --scene scene-0103 --container db3 --out s_bag
    sensorfuse export mcap --drive other.db3 --rig car.yaml --out other.mcap    # convert a recording
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from sensorfuse.errors import ConfigError

if TYPE_CHECKING:
    from sensorfuse.sources.base import Drive

CONTAINERS = ("mcap", "db3", "foxglove")


def add_mcap_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sensorfuse export mcap`` (the ``export`` command itself: :mod:`sensorfuse.export_cli`)."""
    src = p.add_argument_group("input: a nuScenes dataroot, or a recording")
    src.add_argument("--dataroot", type=Path, default=None, help="nuScenes-format dataroot")
    src.add_argument("--version", default="v1.0-mini", help="table folder of --dataroot")
    src.add_argument("--scene", nargs="+", default=None, help="scene name(s) of --dataroot")
    src.add_argument("--drive", type=Path, default=None, help="a recording (.mcap, .db3, bag folder)")
    src.add_argument("--rig", type=Path, default=None, help="rig file of --drive (default: its own)")
    p.add_argument(
        "--out", type=Path, required=True, help="the file (one scene) or a folder (several: <scene>.mcap)"
    )
    p.add_argument(
        "--container", choices=CONTAINERS, default="mcap",
        help="mcap: ROS 2 CDR; db3: rosbag2 folder, sqlite3; foxglove: Foxglove protobuf MCAP",
    )  # fmt: skip
    p.add_argument("--reference", default=None, help="reference sensor (default: the keyframes' sensor)")
    p.add_argument("--skip-bad", action="store_true", help="skip and count messages whose data does not read")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sensorfuse drive info``."""
    sub = parser.add_subparsers(dest="drive_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("info", help="topics, types, rates, span, and what the rig resolves")
    p.add_argument("file", type=Path, help="the recording: .mcap, .db3, rosbag2 folder, .bag")
    p.add_argument(
        "--rig", type=Path, default=None, help="rig file (default: FILE.rig.yaml, embedded, derived)"
    )
    p.add_argument("--write-rig", type=Path, default=None, help="save the resolved rig as YAML (to edit it)")


def _nuscenes_drives(args: argparse.Namespace) -> list[Drive]:
    if args.scene is None:
        raise ConfigError("export mcap: --dataroot needs --scene NAME [NAME ...]")
    from sensorfuse.sources.nuscenes import NuScenesDrive, NuScenesIndex

    index = NuScenesIndex(args.dataroot, args.version)
    return [NuScenesDrive(index, scene) for scene in args.scene]


def _export(args: argparse.Namespace) -> int:
    from sensorfuse.sources.bag_drive import open_drive
    from sensorfuse.sources.export_mcap import export_drive

    if (args.dataroot is None) == (args.drive is None):
        raise ConfigError("export mcap: give either --dataroot (with --scene) or --drive")
    drives: list[Drive] = (
        _nuscenes_drives(args) if args.dataroot is not None else [open_drive(args.drive, args.rig)]
    )
    suffix = "" if args.container == "db3" else ".mcap"
    for drive in drives:
        out = args.out if len(drives) == 1 else args.out / f"{drive.name}{suffix}"
        report = export_drive(
            drive,
            out,
            container=args.container,
            reference=args.reference,
            skip_bad=args.skip_bad,
            progress=not args.no_progress,
        )
        print(report.format())
    return 0


def _info(args: argparse.Namespace) -> int:
    from sensorfuse.sources.bag_drive import open_drive
    from sensorfuse.sources.drive_info import format_drive_info
    from sensorfuse.sources.drive_rig import save_drive_rig

    with open_drive(args.file, args.rig, check=False) as drive:
        print(format_drive_info(drive))
        if args.write_rig is not None:
            save_drive_rig(drive.rig, args.write_rig)
            print(f"rig written to {args.write_rig}")
        bad = drive.calibration_problems()
    return 1 if bad else 0


def run(args: argparse.Namespace) -> int:
    """``sensorfuse drive info``."""
    return _info(args)


def run_mcap(args: argparse.Namespace) -> int:
    """``sensorfuse export mcap``."""
    return _export(args)
