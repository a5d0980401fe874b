"""Open the recording a command was pointed at: a nuScenes dataroot scene or a recorded drive (bag / MCAP).

``sensorfuse replay`` and ``sensorfuse bench latency`` take either ``--dataroot D --version V --scene S`` or
``--drive FILE [--rig RIG]``; both give a :class:`~sensorfuse.sources.base.Drive`, and everything after this
point is the same code.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--scene", default=None, help="scene name of the dataroot, e.g. scene-0103")
    parser.add_argument(
        "--drive",
        type=Path,
        default=None,
        help="a recorded drive instead: MCAP (ROS 2 or Foxglove), rosbag2 folder/.db3, or ROS 1 .bag",
    )
    parser.add_argument(
        "--rig", type=Path, default=None, help="rig file of the drive (default: the one written beside it)"
    )


def open_recording(args: argparse.Namespace, cfg: SampleConfig) -> Drive:
    """The :class:`Drive` named by :func:`add_recording_arguments`' flags (ConfigError when ambiguous)."""
    if args.drive is not None:
        if args.dataroot is not None or args.scene is not None:
            raise ConfigError("--drive replays a recorded drive: leave out --dataroot/--scene")
        from sensorfuse.sources.bag_drive import open_drive

        return open_drive(args.drive, args.rig)
    if args.rig is not None:
        raise ConfigError("--rig goes with --drive (a nuScenes dataroot carries its own calibration)")
    if args.dataroot is None or args.scene is None:
        raise ConfigError("name a recording: --dataroot D --scene S (nuScenes format) or --drive FILE")
    from sensorfuse.sources.nuscenes import NuScenesIndex

    return nuscenes_drive(NuScenesIndex(args.dataroot, args.version), cfg, args.scene)


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
