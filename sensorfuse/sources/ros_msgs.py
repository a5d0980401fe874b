"""ROS message → numpy decoders: pure functions of a decoded message, no I/O (LiDAR points, TF, odometry).

Images and CameraInfo are in :mod:`sensorfuse.sources.ros_images`, radar in :mod:`sensorfuse.sources.ros_radar`.

Messages are the objects ``rosbags`` deserialises (ROS 2 field names; ROS 1 spellings such as ``K`` are
accepted too). Every decoder takes ``where`` (``file:topic``) and raises :class:`~sensorfuse.errors.DataError`
naming it and the field at fault. Frames and units:

* points are in the message's ``frame_id`` (the sensor frame), metres; per-point times are float seconds
  relative to the message stamp (``header.stamp``, int ns);
* transforms are :class:`~sensorfuse.geometry.Transform` named ``parent_from_child`` (a ROS
  ``TransformStamped`` maps child-frame coordinates into ``header.frame_id``); frame ids lose a leading ``/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform, quat_to_matrix
from sensorfuse.sources.points import (
    INTENSITY_FIELDS,
    RING_FIELDS,
    ROS_POINTFIELD_TYPES,
    TIME_FIELDS,
    PackedPoints,
    finite_rows,
    make_packed,
    point_time_offsets,
)

#: Columns of :attr:`LidarScan.points`.
SCAN_COLUMNS: tuple[str, ...] = ("x", "y", "z", "intensity")


def get(msg: Any, *names: str) -> Any:
    """The first attribute of ``msg`` among ``names`` (ROS 2 then ROS 1 spellings); AttributeError if none."""
    for n in names:
        if hasattr(msg, n):
            return getattr(msg, n)
    raise AttributeError(f"message has none of the fields {', '.join(names)}")


def stamp_ns(msg: Any) -> int:
    """``header.stamp`` (or a bare ``builtin_interfaces/Time``) in integer nanoseconds."""
    t = msg.header.stamp if hasattr(msg, "header") else msg
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def frame_id(name: str) -> str:
    """A frame id without the ROS 1 leading slash (tf2 treats ``/base_link`` as ``base_link``)."""
    return name[1:] if name.startswith("/") else name


# ----------------------------------------------------------------------------------------------- points


def packed_from_pointcloud2(msg: Any, where: str) -> PackedPoints:
    """The layout of a ``sensor_msgs/PointCloud2`` over its (uncopied) ``data``."""
    fields = []
    for f in msg.fields:
        code = ROS_POINTFIELD_TYPES.get(int(f.datatype))
        if code is None:
            raise DataError(where, f"PointField {f.name!r} has datatype {f.datatype}; expected 1..8", f.name)
        fields.append((str(f.name), int(f.offset), code, int(f.count)))
    return make_packed(
        fields,
        msg.data,
        int(msg.height),
        int(msg.width),
        int(msg.point_step),
        int(msg.row_step),
        bool(msg.is_bigendian),
        where,
    )


def pointcloud2_columns(msg: Any, names: Sequence[str], where: str) -> np.ndarray:
    """The named fields of a PointCloud2 as (N, len(names)) float32 (the benchmarked path)."""
    return packed_from_pointcloud2(msg, where).columns(names)


def first_field(packed: PackedPoints, chosen: str | None, candidates: Sequence[str]) -> str | None:
    """``chosen`` (which must exist), else the first of ``candidates`` the cloud has, else None."""
    if chosen is not None:
        packed.require([chosen])
        return chosen
    return next((n for n in candidates if n in packed.names), None)


@dataclass(frozen=True)
class LidarScan:
    """One LiDAR sweep in its sensor frame.

    Attributes:
        frame_id: sensor frame of the points.
        stamp_ns: message stamp (ns); per-point times are relative to it.
        points: (N, 4) float32, columns :data:`SCAN_COLUMNS` (metres; intensity as recorded, 0 when the
            cloud has none); rows with a non-finite x/y/z (no-return cells of organised clouds) are dropped.
        time_offset: (N,) float32 seconds relative to ``stamp_ns``, or None when the cloud has no time field.
        ring: (N,) int32 laser index, or None.
        intensity_field, time_field: the fields read (None = absent).
        time_rule: the unit rule applied to the time field (see :func:`point_time_offsets`), or "absent".
        dropped_nonfinite: rows dropped for a non-finite position.
    """

    frame_id: str
    stamp_ns: int
    points: np.ndarray
    time_offset: np.ndarray | None
    ring: np.ndarray | None
    intensity_field: str | None
    time_field: str | None
    time_rule: str
    dropped_nonfinite: int

    def __len__(self) -> int:
        return int(self.points.shape[0])


def lidar_from_packed(
    packed: PackedPoints,
    stamp: int,
    frame: str,
    *,
    time_field: str | None = None,
    time_unit: str = "auto",
    intensity_field: str | None = None,
) -> LidarScan:
    """Decode packed LiDAR points (x, y, z required; intensity, ring, per-point time when present).

    ``time_field``/``intensity_field`` name the fields explicitly (a rig file's say); by default the first
    of :data:`TIME_FIELDS` / :data:`INTENSITY_FIELDS` present is used; ``time_field=""`` ignores per-point
    times.
    """
    packed.require(("x", "y", "z"), "LiDAR points")
    inten = first_field(packed, intensity_field, INTENSITY_FIELDS)
    tfield = None if time_field == "" else first_field(packed, time_field, TIME_FIELDS)
    ring_f = next((n for n in RING_FIELDS if n in packed.names), None)
    if inten is not None:
        pts = packed.columns(["x", "y", "z", inten])
    else:
        pts = np.zeros((len(packed), 4), np.float32)
        pts[:, :3] = packed.columns(["x", "y", "z"])
    offsets = ring = None
    rule = "absent"
    if tfield is not None:
        off, rule = point_time_offsets(packed.field(tfield), stamp, packed.where, tfield, time_unit)
        offsets = off.astype(np.float32)
    if ring_f is not None:
        ring = packed.field(ring_f).astype(np.int32)
    keep = finite_rows(pts)
    dropped = 0
    if keep is not None:
        dropped = int(keep.size - keep.sum())
        pts = pts[keep]
        offsets = None if offsets is None else offsets[keep]
        ring = None if ring is None else ring[keep]
    return LidarScan(frame, stamp, pts, offsets, ring, inten, tfield, rule, dropped)


def lidar_from_pointcloud2(
    msg: Any,
    where: str,
    *,
    time_field: str | None = None,
    time_unit: str = "auto",
    intensity_field: str | None = None,
) -> LidarScan:
    """A ``sensor_msgs/PointCloud2`` LiDAR sweep (see :func:`lidar_from_packed`)."""
    return lidar_from_packed(
        packed_from_pointcloud2(msg, where),
        stamp_ns(msg),
        frame_id(msg.header.frame_id),
        time_field=time_field,
        time_unit=time_unit,
        intensity_field=intensity_field,
    )


# ------------------------------------------------------------------------------------------- transforms


@dataclass(frozen=True)
class StampedTransform:
    """``transform`` = ``parent_from_child`` at ``stamp_ns`` (ns)."""

    parent: str
    child: str
    stamp_ns: int
    transform: Transform


def transform_from_xyzw(
    translation: Sequence[float], quat_xyzw: Sequence[float], where: str, field: str
) -> Transform:
    """A Transform from a translation (x, y, z) and a ROS quaternion (x, y, z, w)."""
    t = np.asarray(translation, np.float64)
    q = np.asarray(quat_xyzw, np.float64)
    n = float(np.linalg.norm(q))
    if not (np.isfinite(t).all() and np.isfinite(q).all()) or n < 1e-6 or abs(n - 1.0) > 1e-2:
        raise DataError(
            where,
            f"transform translation {t.tolist()} / quaternion {q.tolist()} is not finite with a unit quaternion",
            field,
            reason="bad calibration",
        )
    return Transform.from_rt(quat_to_matrix([q[3], q[0], q[1], q[2]]), t)


def _ros_transform(tr: Any, where: str, field: str) -> Transform:
    p, q = tr.translation, tr.rotation
    return transform_from_xyzw((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), where, field)


def _ros_pose(pose: Any, where: str, field: str) -> Transform:
    p, q = pose.position, pose.orientation
    return transform_from_xyzw((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), where, field)


def transforms_from_tf(msg: Any, where: str) -> list[StampedTransform]:
    """A ``tf2_msgs/TFMessage`` → one :class:`StampedTransform` per entry (``parent_from_child``)."""
    out = []
    for i, ts in enumerate(msg.transforms):
        parent, child = frame_id(ts.header.frame_id), frame_id(ts.child_frame_id)
        if not parent or not child or parent == child:
            raise DataError(
                where,
                f"transform {i} links {parent!r} to {child!r}",
                f"transforms[{i}]",
                reason="bad calibration",
            )
        out.append(
            StampedTransform(
                parent, child, stamp_ns(ts), _ros_transform(ts.transform, where, f"transforms[{i}]")
            )
        )
    return out


def pose_from_odometry(msg: Any, where: str) -> StampedTransform:
    """A ``nav_msgs/Odometry`` → ``global_from_ego`` at its stamp (parent = ``header.frame_id`` such as
    ``odom``/``map``, child = ``child_frame_id`` such as ``base_link``)."""
    return StampedTransform(
        frame_id(msg.header.frame_id),
        frame_id(msg.child_frame_id),
        stamp_ns(msg),
        _ros_pose(msg.pose.pose, where, "pose"),
    )


def twist_from_odometry(msg: Any) -> tuple[np.ndarray, float]:
    """A ``nav_msgs/Odometry`` twist: linear velocity (3,) m/s and yaw rate rad/s, in ``child_frame_id``."""
    lin, ang = msg.twist.twist.linear, msg.twist.twist.angular
    return np.array([lin.x, lin.y, lin.z], np.float64), float(ang.z)
