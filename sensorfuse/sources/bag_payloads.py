"""What :class:`~sensorfuse.sources.bag_drive.BagDrive` makes of one message: pure functions of a
:class:`~sensorfuse.sources.bagfile.BagMessage`, its rig entry and the poses the drive looks up.

ROS 2 / ROS 1 messages and their Foxglove protobuf equivalents go to the decoders of
:mod:`sensorfuse.sources.ros_msgs`, :mod:`~sensorfuse.sources.ros_radar`, :mod:`~sensorfuse.sources.ros_images`
and :mod:`~sensorfuse.sources.foxglove_msgs`; this module adds what the Drive needs on top: the header stamp
without decoding, deskewing by the drive's ego poses, a radar's own velocity for Doppler compensation, the
CameraInfo nearest in time, and annotation boxes as global-frame :class:`~sensorfuse.structures.Boxes3D`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensorfuse.boxes import transform_boxes
from sensorfuse.classes import ATTRIBUTE_INDEX, CLASS_INDEX
from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.bagfile import BagMessage
from sensorfuse.sources.base import CameraImage
from sensorfuse.sources.deskew import PoseMotion, deskew
from sensorfuse.sources.drive_rig import RigSensor
from sensorfuse.sources.markers import BoxList
from sensorfuse.sources.ros_images import CameraCalibration, camera_info, image_to_rgb
from sensorfuse.sources.ros_msgs import LidarScan, frame_id, lidar_from_pointcloud2
from sensorfuse.sources.ros_radar import (
    RADAR_DOPPLER_FIELDS,
    RADAR_RCS_FIELDS,
    RadarDetections,
    RadarFields,
    radar_from_pointcloud2,
    radar_from_radarscan,
)
from sensorfuse.structures import Boxes3D

#: Half-window (ns) of the central difference that gives a radar's own velocity for Doppler compensation.
VELOCITY_HALF_WINDOW_NS = 25_000_000

PoseAt = Callable[[int], Transform]


def peek_stamp_ns(data: bytes | memoryview, encoding: str) -> int | None:
    """``header.stamp`` of a serialised message whose first field is a ``std_msgs/Header`` (every sensor
    type read here), without decoding it: CDR (4-byte encapsulation, then int32 sec, uint32 nanosec) or
    ROS 1 (uint32 seq, uint32 sec, uint32 nsec). None for other encodings."""
    b = bytes(data[:12])
    if len(b) < 12:
        return None
    if encoding == "cdr":
        order = "<" if b[1] & 1 else ">"
        sec = int(np.frombuffer(b, order + "i4", 1, 4)[0])
        nsec = int(np.frombuffer(b, order + "u4", 1, 8)[0])
    elif encoding == "ros1":
        sec, nsec = (int(v) for v in np.frombuffer(b, "<u4", 2, 4))
    else:
        return None
    return sec * 1_000_000_000 + nsec


def frame_of(msg: Any) -> str:
    """The frame id of a decoded message (ROS ``header.frame_id`` or Foxglove ``frame_id``)."""
    if hasattr(msg, "header"):
        return frame_id(str(msg.header.frame_id))
    return frame_id(str(getattr(msg, "frame_id", "")))


def lidar_scan(m: BagMessage, s: RigSensor) -> LidarScan:
    """A LiDAR message (PointCloud2 or ``foxglove.PointCloud``) with the rig's field choices."""
    kw: dict[str, Any] = {
        "time_field": s.time_field,
        "time_unit": s.time_unit,
        "intensity_field": s.intensity_field,
    }
    msg = m.decode()
    if m.type.startswith("foxglove."):
        from sensorfuse.sources.foxglove_msgs import lidar_from_foxglove

        return lidar_from_foxglove(msg, m.where, **kw)
    return lidar_from_pointcloud2(msg, m.where, **kw)


def deskewed_points(
    scan: LidarScan, enabled: bool, pose_at: PoseAt, ego_from_sensor: Transform
) -> np.ndarray:
    """(N, 4) float32 points at the message stamp: deskewed by the ego poses at the sweep's first and last
    point times (:class:`~sensorfuse.sources.deskew.PoseMotion`) when ``enabled`` and the points have times."""
    pts = np.ascontiguousarray(scan.points, np.float32)
    if not enabled or scan.time_offset is None or not len(pts):
        return pts
    off = scan.time_offset.astype(np.float64)
    lo, hi = float(off.min()), float(off.max())
    if hi > lo:
        t = scan.stamp_ns
        motion = PoseMotion(pose_at(t + round(lo * 1e9)), lo, pose_at(t + round(hi * 1e9)), hi)
        pts[:, :3] = deskew(pts[:, :3], off, motion, 0.0, ego_from_sensor)
    return pts


def sensor_velocity(pose_at: PoseAt, ego_from_sensor: Transform, t_ns: int) -> np.ndarray:
    """A sensor's own velocity (m/s, sensor frame) at ``t_ns``: a central difference of its pose."""
    h = VELOCITY_HALF_WINDOW_NS
    p0 = (pose_at(t_ns - h) @ ego_from_sensor).translation
    p1 = (pose_at(t_ns + h) @ ego_from_sensor).translation
    g = pose_at(t_ns) @ ego_from_sensor
    return g.rotation.T @ ((p1 - p0) / (2 * h * 1e-9))


def radar_detections(
    m: BagMessage, kind: str, s: RigSensor, velocity: Callable[[], np.ndarray]
) -> tuple[RadarDetections, int]:
    """A radar message (RadarScan, PointCloud2, ``foxglove.PointCloud``) and how many returns it held.

    ``velocity()`` gives the radar's own velocity; it is asked only when the message's velocity is a
    Doppler field (no ``vx``/``vy`` fields) and the rig compensates.
    """
    msg = m.decode()
    if kind == "radar_scan":
        return radar_from_radarscan(msg, m.where, velocity() if s.compensate else None), len(msg.returns)
    fields = RadarFields(
        s.vx_field,
        s.vy_field,
        (s.doppler_field,) if s.doppler_field else RADAR_DOPPLER_FIELDS,
        (s.rcs_field,) if s.rcs_field else RADAR_RCS_FIELDS,
    )
    doppler = not {s.vx_field, s.vy_field} <= {str(f.name) for f in msg.fields}
    vel = velocity() if s.compensate and doppler else None
    if m.type.startswith("foxglove."):
        from sensorfuse.sources.foxglove_msgs import radar_from_foxglove

        return radar_from_foxglove(msg, m.where, fields, vel), len(msg.data) // max(int(msg.point_stride), 1)
    return radar_from_pointcloud2(msg, m.where, fields, vel), int(msg.height) * int(msg.width)


def camera_calibration(m: BagMessage) -> CameraCalibration:
    """A ``CameraInfo`` or ``foxglove.CameraCalibration`` (checked: a zero focal length is a DataError)."""
    msg = m.decode()
    if m.type.startswith("foxglove."):
        from sensorfuse.sources.foxglove_msgs import calibration_from_foxglove

        return calibration_from_foxglove(msg, m.where)
    return camera_info(msg, m.where)


def nearest_calibration(
    items: Sequence[tuple[int, CameraCalibration | DataError]], t_ns: int
) -> CameraCalibration:
    """The calibration nearest in time to ``t_ns`` among (stamp, calibration or its error) sorted by stamp;
    a bad one raises its DataError."""
    stamps = [it[0] for it in items]
    j = bisect.bisect_left(stamps, t_ns)
    best = min((c for c in (j - 1, j) if 0 <= c < len(items)), key=lambda c: abs(stamps[c] - t_ns))
    cal = items[best][1]
    if isinstance(cal, DataError):
        raise cal
    return cal


def camera_image(m: BagMessage, kind: str, k: np.ndarray, size: tuple[int, int]) -> CameraImage:
    """An image message: the encoded bytes of a CompressedImage as they are, raw pixels as RGB."""
    msg = m.decode()
    if kind == "image":
        return CameraImage(None, image_to_rgb(msg, m.where), k, size, m.where)
    data = msg.data
    encoded = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    return CameraImage(encoded, None, k, size, m.where)


def boxes_in_global(
    boxes: BoxList, global_from_frame: Transform | None, dropped: dict[str, int], where: str
) -> Boxes3D:
    """Annotation boxes → :class:`Boxes3D` in the global frame (float64, moved by ``global_from_frame``
    unless None); labels that are not detection classes are dropped and counted in ``dropped``; ``where``
    (``file:topic``) is named in errors."""
    keep = []
    for j, label in enumerate(boxes.labels):
        if label in CLASS_INDEX:
            keep.append(j)
        else:
            dropped[label] = dropped.get(label, 0) + 1
    b = boxes.boxes[keep]
    if len(b) and global_from_frame is not None:
        b = transform_boxes(b, global_from_frame)
    extra = [boxes.extra[j] if boxes.extra else {} for j in keep]
    try:
        return Boxes3D(
            boxes=np.asarray(b, np.float64).reshape(-1, 9),
            labels=np.array([CLASS_INDEX[boxes.labels[j]] for j in keep], np.int64),
            attributes=np.array(
                [ATTRIBUTE_INDEX.get(str(e.get("attribute", "")), -1) for e in extra], np.int64
            ),
            scores=np.ones(len(keep), np.float32),
            num_lidar_pts=np.array([int(e.get("num_lidar_pts", -1)) for e in extra], np.int64),
            num_radar_pts=np.array([int(e.get("num_radar_pts", -1)) for e in extra], np.int64),
            tokens=tuple(str(e.get("token", "")) for e in extra),
        )
    except (TypeError, ValueError) as e:
        raise DataError(
            where, f"boxes at {boxes.stamp_ns} ns: extras are not numbers where expected: {e}", "markers.text"
        ) from None
