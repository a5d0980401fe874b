"""Poses of sample_data records and validated walks along their ``prev`` chain."""

from __future__ import annotations

from pathlib import Path

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.nuscenes.index import NuScenesIndex


def _transform(pose: list[float]) -> Transform:
    """``[tx, ty, tz, qw, qx, qy, qz]`` → Transform."""
    return Transform.from_quat(pose[3:7], pose[0:3])


def global_from_ego(index: NuScenesIndex, sd_token: str) -> Transform:
    """Ego pose at the sample_data's own timestamp."""
    rec = index.sample_data[sd_token]
    if rec["ego_pose"] is None:
        raise DataError(
            sd_token,
            f"ego_pose_token {index.sample_data[sd_token].get('ego_pose_token', '?')!r}: no such ego_pose record",
            "ego_pose_token",
        )
    return _transform(rec["ego_pose"])


def ego_from_sensor(index: NuScenesIndex, sd_token: str) -> Transform:
    """Sensor extrinsics (calibrated_sensor) of a sample_data."""
    return _transform(index.calib[index.sample_data[sd_token]["calib"]]["pose"])


def global_from_sensor(index: NuScenesIndex, sd_token: str) -> Transform:
    """Sensor frame at the sample_data's timestamp → global."""
    return global_from_ego(index, sd_token) @ ego_from_sensor(index, sd_token)


def existing_file(index: NuScenesIndex, sd_token: str) -> Path:
    """Path of a sample_data file, checked to exist (DataError naming file and token otherwise)."""
    path = index.path(sd_token)
    if not path.is_file():
        raise DataError(
            path,
            f"file of sample_data {sd_token} ({index.sample_data[sd_token]['channel']}) is missing",
            "filename",
            reason="missing file",
        )
    return path


def walk_sweeps(index: NuScenesIndex, key_token: str, n: int) -> list[str]:
    """The keyframe and up to ``n - 1`` earlier sweeps of the same sensor, newest first.

    Stops at the scene start (``prev == ''``). A broken chain raises DataError with reason ``broken chain``
    naming the record and field (never a silently shorter history; under ``on_missing="drop_sensor"`` the
    sensor is dropped and counted): a ``prev`` token that does not exist or belongs to another channel, a
    ``prev`` whose ``next`` points elsewhere, or timestamps that do not decrease along ``prev`` (which also
    catches a loop).
    """
    chain = [key_token]
    cur = index.sample_data[key_token]
    while len(chain) < n and cur["prev"]:
        prev_tok = cur["prev"]
        prev = index.sample_data.get(prev_tok)
        if prev is None:
            raise _broken(chain[-1], f"prev token {prev_tok!r} does not exist", "prev")
        if prev["channel"] != cur["channel"]:
            raise _broken(
                chain[-1], f"prev {prev_tok} is a {prev['channel']} record, expected {cur['channel']}", "prev"
            )
        if prev["next"] and prev["next"] != chain[-1]:
            raise _broken(prev_tok, f"its next is {prev['next']!r}, expected {chain[-1]!r}", "next")
        if prev["timestamp"] >= cur["timestamp"]:
            raise DataError(
                prev_tok,
                f"non-monotonic timestamps: prev sweep at {prev['timestamp']} µs is not before "
                f"{cur['timestamp']} µs (a loop or misordered prev/next chain)",
                "timestamp",
                reason="broken chain",
            )
        chain.append(prev_tok)
        cur = prev
    return chain


def _broken(token: str, problem: str, field: str) -> DataError:
    return DataError(token, f"broken prev/next chain: {problem}", field, reason="broken chain")
