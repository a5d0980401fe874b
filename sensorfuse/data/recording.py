"""Open the recording a command was pointed at: a nuScenes dataroot scene or a recorded drive (bag / MCAP).

``sensorfuse replay`` and ``sensorfuse bench latency`` take either ``--dataroot D --version V --scene S [S ...]``
or ``--drive FILE [FILE ...] [--rig RIG]``; both give :class:`~sensorfuse.sources.base.Drive` s, and everything
after this point is the same code. Several recordings are shared out across torchrun ranks.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import nuscenes_drive
from sensorfuse.errors import ConfigError
from sensorfuse.sources.base import Drive, channels_of


def add_recording_arguments(parser: argparse.ArgumentParser, default_version: str = "v1.0-mini") -> None:
    """``--dataroot/--version/--scene`` (a nuScenes-format scene) or ``--drive [--rig]`` (a recorded drive)."""
    parser.add_argument("--dataroot", type=Path, default=None, help="nuScenes-format dataset folder")
    parser.add_argument(
        "--version", default=default_version, help=f"table folder (default {default_version})"
    )
    parser.add_argument(
        "--scene", nargs="+", default=None, help="scene name(s) of the dataroot, e.g. scene-0103"
    )
    add_drive_arguments(parser, "instead")


def add_drive_arguments(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--drive FILE [FILE ...]`` and ``--rig RIG`` (read by :func:`open_recordings`)."""
    parser.add_argument(
        "--drive",
        type=Path,
        nargs="+",
        default=None,
        help=f"recorded drive(s){' ' + what if what else ''}: MCAP (ROS 2 or Foxglove), rosbag2 folder/.db3, "
        "or ROS 1 .bag",
    )
    parser.add_argument(
        "--rig", type=Path, default=None, help="rig file of the drive (default: the one written beside it)"
    )


def recording_names(args: argparse.Namespace) -> list[str]:
    """The recordings :func:`add_recording_arguments`' flags name, checked to be unambiguous."""
    if args.drive is not None:
        if args.dataroot is not None or getattr(args, "scene", None) is not None:
            raise ConfigError("--drive reads recorded drives: leave out --dataroot/--scene")
        missing = [str(p) for p in args.drive if not Path(p).exists()]
        if missing:
            raise ConfigError(f"--drive: no such file or folder: {', '.join(missing)}")
        names = [str(p) for p in args.drive]
        if len({Path(n).name for n in names}) != len(names):
            raise ConfigError(
                f"--drive: two recordings share a file name ({names}); their outputs would collide"
            )
        return names
    if args.rig is not None:
        raise ConfigError("--rig goes with --drive (a nuScenes dataroot carries its own calibration)")
    if args.dataroot is None or not args.scene:
        raise ConfigError("name a recording: --dataroot D --scene S (nuScenes format) or --drive FILE")
    return list(args.scene)


def open_recordings(
    args: argparse.Namespace, cfg: SampleConfig, rank: int = 0, world_size: int = 1
) -> Iterator[tuple[str, Drive]]:
    """``(name, drive)`` of the recordings named by the flags — this rank's share (``names[rank::world_size]``),
    opened one by one. The name is the scene, or the drive's file name (unique among the recordings)."""
    names = recording_names(args)[rank::world_size]
    if args.drive is not None:
        from sensorfuse.sources.bag_drive import open_drive

        for name in names:
            yield Path(name).name, open_drive(Path(name), args.rig)
        return
    from sensorfuse.sources.nuscenes import NuScenesIndex

    index = NuScenesIndex(args.dataroot, args.version)
    for name in names:
        yield name, nuscenes_drive(index, cfg, name)


def fit_to_recording(cfg: SampleConfig, drive: Drive) -> SampleConfig:
    """``cfg`` (e.g. a checkpoint's, trained on the nuScenes rig) adapted to the sensors of ``drive``.

    The model reads modalities, not sensor names: every LiDAR and every radar of the recording is merged into
    its modality's cloud; cameras keep the config's slots where the names match and the recording's other
    cameras are added. Sensors of the config the recording lacks stay in the config and are reported missing
    (``absent``) in every sample. The reference sensor is the config's if the recording has it, else the
    recording's own (``drive.reference`` when it declares one, else its first LiDAR).
    """
    sensors = drive.sensors
    if all(n in sensors for n in (cfg.reference, *cfg.lidars, *cfg.radars, *cfg.cameras)):
        return cfg
    lidars = channels_of(sensors, "lidar") or cfg.lidars
    radars = channels_of(sensors, "radar") or cfg.radars
    cameras = (*cfg.cameras, *(c for c in channels_of(sensors, "camera") if c not in cfg.cameras))
    reference = cfg.reference
    if reference not in sensors:
        reference = str(getattr(drive, "reference", "") or next(iter(channels_of(sensors, "lidar")), ""))
    if reference not in sensors:
        raise ConfigError(
            f"{drive.name}: no reference sensor: {cfg.reference!r} is not in the recording and it has no LiDAR "
            "(name one with the rig file's `reference`)"
        )
    return replace(cfg, lidars=tuple(lidars), radars=tuple(radars), cameras=cameras, reference=reference)
