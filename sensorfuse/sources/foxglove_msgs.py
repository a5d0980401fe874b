"""Foxglove protobuf schemas ↔ the decoded forms of :mod:`sensorfuse.sources.ros_msgs`.

The layout nuScenes→MCAP converters write: ``foxglove.PointCloud`` for LiDAR and radar (little-endian
packed fields, ``point_stride`` bytes per point, an optional ``pose`` of the points in ``frame_id``),
``foxglove.CompressedImage`` + ``foxglove.CameraCalibration``, and ``foxglove.FrameTransform(s)`` on ``/tf``
(the child frame's pose in the parent: ``parent_from_child``). Decoders take the protobuf object (the
reader builds its class from the schema stored in the file); builders use ``foxglove-schemas-protobuf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from foxglove_schemas_protobuf.CameraCalibration_pb2 import CameraCalibration as PbCalibration
from foxglove_schemas_protobuf.CompressedImage_pb2 import CompressedImage as PbCompressedImage
from foxglove_schemas_protobuf.FrameTransform_pb2 import FrameTransform as PbFrameTransform
from foxglove_schemas_protobuf.FrameTransforms_pb2 import FrameTransforms as PbFrameTransforms
from foxglove_schemas_protobuf.PackedElementField_pb2 import PackedElementField
from foxglove_schemas_protobuf.PointCloud_pb2 import PointCloud as PbPointCloud

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.points import PackedPoints, make_packed
from sensorfuse.sources.ros_images import (
    CameraCalibration,
    check_camera_matrix,
)
from sensorfuse.sources.ros_msgs import (
    LidarScan,
    StampedTransform,
    frame_id,
    lidar_from_packed,
    transform_from_xyzw,
)
from sensorfuse.sources.ros_radar import (
    DEFAULT_RADAR_FIELDS,
    RadarDetections,
    RadarFields,
    radar_from_packed,
)

#: foxglove.PackedElementField.NumericType → numpy scalar code (UINT8=1, INT8=2, ... FLOAT64=8).
FOXGLOVE_TYPES: dict[int, str] = {1: "u1", 2: "i1", 3: "u2", 4: "i2", 5: "u4", 6: "i4", 7: "f4", 8: "f8"}
_TYPE_OF_CODE = {v: k for k, v in FOXGLOVE_TYPES.items()}


def stamp_ns(msg: Any) -> int:
    """``timestamp`` (google.protobuf.Timestamp) in integer nanoseconds."""
    return int(msg.timestamp.seconds) * 1_000_000_000 + int(msg.timestamp.nanos)


def packed_from_foxglove(msg: Any, where: str) -> PackedPoints:
    """The layout of a ``foxglove.PointCloud`` (one row of ``len(data) // point_stride`` points)."""
    stride = int(msg.point_stride)
    data = bytes(msg.data)
    if stride <= 0 or len(data) % stride:
        raise DataError(
            where,
            f"data has {len(data)} bytes, not a multiple of point_stride {stride}",
            "data",
            reason="truncated",
        )
    fields = []
    for f in msg.fields:
        code = FOXGLOVE_TYPES.get(int(f.type))
        if code is None:
            raise DataError(where, f"field {f.name!r} has numeric type {f.type}; expected 1..8", f.name)
        fields.append((str(f.name), int(f.offset), code, 1))
    n = len(data) // stride
    return make_packed(fields, data, 1, n, stride, n * stride, False, where)


def _cloud_pose(msg: Any, where: str) -> Transform | None:
    """``frame_from_cloud`` of the cloud's ``pose`` field, or None when unset or identity."""
    if not msg.HasField("pose"):
        return None
    p, q = msg.pose.position, msg.pose.orientation
    if (p.x, p.y, p.z, q.x, q.y, q.z) == (0, 0, 0, 0, 0, 0):
        return None
    return transform_from_xyzw((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), where, "pose")


def lidar_from_foxglove(msg: Any, where: str, **kw: Any) -> LidarScan:
    """A LiDAR ``foxglove.PointCloud`` (keywords as :func:`~sensorfuse.sources.ros_msgs.lidar_from_packed`)."""
    scan = lidar_from_packed(packed_from_foxglove(msg, where), stamp_ns(msg), frame_id(msg.frame_id), **kw)
    pose = _cloud_pose(msg, where)
    if pose is not None:
        scan.points[:, :3] = pose.apply(scan.points[:, :3].astype(np.float64))
    return scan


def radar_from_foxglove(
    msg: Any,
    where: str,
    fields: RadarFields = DEFAULT_RADAR_FIELDS,
    sensor_velocity: np.ndarray | None = None,
) -> RadarDetections:
    """A radar ``foxglove.PointCloud`` (nuScenes fields vx_comp/vy_comp/rcs, or a Doppler field)."""
    det = radar_from_packed(
        packed_from_foxglove(msg, where), stamp_ns(msg), frame_id(msg.frame_id), fields, sensor_velocity
    )
    pose = _cloud_pose(msg, where)
    if pose is not None:
        det.points[:, :3] = pose.apply(det.points[:, :3].astype(np.float64))
        vel = np.zeros((len(det), 3))
        vel[:, :2] = det.points[:, 3:5]
        det.points[:, 3:5] = pose.rotate(vel)[:, :2]
    return det


def calibration_from_foxglove(msg: Any, where: str) -> CameraCalibration:
    """A ``foxglove.CameraCalibration`` (K row-major, 9 numbers)."""
    k = check_camera_matrix(list(msg.K), where, "K")
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0:
        raise DataError(where, f"image size {w}x{h} must be positive", "width", reason="bad calibration")
    return CameraCalibration(
        frame_id(msg.frame_id),
        stamp_ns(msg),
        w,
        h,
        k,
        str(msg.distortion_model),
        np.asarray(list(msg.D), np.float64),
    )


def transform_from_foxglove(msg: Any, where: str, field: str = "transform") -> StampedTransform:
    """A ``foxglove.FrameTransform`` → ``parent_from_child``."""
    parent, child = frame_id(msg.parent_frame_id), frame_id(msg.child_frame_id)
    if not parent or not child or parent == child:
        raise DataError(where, f"transform links {parent!r} to {child!r}", field, reason="bad calibration")
    t, q = msg.translation, msg.rotation
    return StampedTransform(
        parent, child, stamp_ns(msg), transform_from_xyzw((t.x, t.y, t.z), (q.x, q.y, q.z, q.w), where, field)
    )


def transforms_from_foxglove(msg: Any, where: str) -> list[StampedTransform]:
    """A ``foxglove.FrameTransforms`` (or a single ``FrameTransform``) → its edges."""
    if hasattr(msg, "transforms"):
        return [transform_from_foxglove(t, where, f"transforms[{i}]") for i, t in enumerate(msg.transforms)]
    return [transform_from_foxglove(msg, where)]


# ------------------------------------------------------------------------------------------------ build


def _set_stamp(msg: Any, stamp: int) -> None:
    msg.timestamp.seconds, msg.timestamp.nanos = divmod(int(stamp), 1_000_000_000)


def build_pointcloud(
    columns: np.ndarray, names: Sequence[str], stamp: int, frame: str, dtypes: Sequence[str] | None = None
) -> PbPointCloud:
    """A ``foxglove.PointCloud`` of (N, C) ``columns`` named ``names`` (float32 unless ``dtypes`` says)."""
    cols = np.asarray(columns)
    codes = list(dtypes or ["f4"] * len(names))
    rec_dt = np.dtype([(n, "<" + c) for n, c in zip(names, codes, strict=True)])
    rec = np.empty(len(cols), rec_dt)
    for j, n in enumerate(names):
        rec[n] = cols[:, j]
    msg = PbPointCloud(
        frame_id=frame,
        point_stride=rec_dt.itemsize,
        fields=[
            PackedElementField(name=n, offset=rec_dt.fields[n][1], type=_TYPE_OF_CODE[c])  # type: ignore[index,arg-type]
            for n, c in zip(names, codes, strict=True)
        ],
        data=rec.tobytes(),
    )
    msg.pose.orientation.w = 1.0
    _set_stamp(msg, stamp)
    return msg


def build_compressed_image(data: bytes, stamp: int, frame: str, fmt: str = "jpeg") -> PbCompressedImage:
    msg = PbCompressedImage(frame_id=frame, data=data, format=fmt)
    _set_stamp(msg, stamp)
    return msg


def build_calibration(
    intrinsics: np.ndarray, width: int, height: int, stamp: int, frame: str
) -> PbCalibration:
    """A ``foxglove.CameraCalibration`` of a rectified pinhole camera (no distortion, P = [K | 0])."""
    k = np.asarray(intrinsics, np.float64)
    p = np.zeros((3, 4))
    p[:, :3] = k
    msg = PbCalibration(
        frame_id=frame, width=width, height=height, distortion_model="", K=k.reshape(-1).tolist(),
        R=np.eye(3).reshape(-1).tolist(), P=p.reshape(-1).tolist(),
    )  # fmt: skip
    _set_stamp(msg, stamp)
    return msg


def build_frame_transforms(transforms: Sequence[StampedTransform]) -> PbFrameTransforms:
    """A ``foxglove.FrameTransforms`` of ``parent_from_child`` edges."""
    out = PbFrameTransforms()
    for st in transforms:
        ft = PbFrameTransform(parent_frame_id=st.parent, child_frame_id=st.child)
        _set_stamp(ft, st.stamp_ns)
        w, x, y, z = st.transform.quat
        ft.rotation.x, ft.rotation.y, ft.rotation.z, ft.rotation.w = x, y, z, w
        ft.translation.x, ft.translation.y, ft.translation.z = (float(v) for v in st.transform.translation)
        out.transforms.append(ft)
    return out
