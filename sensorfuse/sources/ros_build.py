"""ROS 2 message objects from numpy (the inverse of :mod:`sensorfuse.sources.ros_msgs`), for the writers.

Objects are ``rosbags`` message classes of :func:`~sensorfuse.sources.ros_types.writer_typestore` (ROS 2
Humble + ``radar_msgs``). :func:`build` fills every field a caller leaves out with its zero value, so a
builder names only what it sets. Frames and units are those of :mod:`sensorfuse.sources.ros_msgs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype

from sensorfuse.geometry import Transform
from sensorfuse.sources.ros_msgs import StampedTransform
from sensorfuse.sources.ros_types import writer_typestore

#: numpy scalar code → sensor_msgs/PointField datatype.
POINTFIELD_OF_CODE: dict[str, int] = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 8}
_NUMPY: dict[str, Any] = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
    "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}  # fmt: skip


def _value(desc: tuple[Any, Any], given: Any, store: Any) -> Any:
    kind, arg = desc
    if kind == Nodetype.BASE:
        name = arg[0]
        if name == "string":
            return "" if given is None else str(given)
        return _NUMPY[name](0 if given is None else given).item()
    if kind == Nodetype.NAME:
        if given is None or isinstance(given, dict):
            return build(arg, typestore=store, **(given or {}))
        return given
    sub, length = arg
    if sub[0] == Nodetype.BASE and sub[1][0] != "string":
        dt = _NUMPY[sub[1][0]]
        n = length if kind == Nodetype.ARRAY else 0
        return np.zeros(n, dt) if given is None else np.asarray(given, dt).reshape(-1)
    items = [] if given is None else list(given)
    if kind == Nodetype.ARRAY and not items:
        items = [None] * length
    return [_value(sub, it, store) for it in items]


def build(typename: str, /, typestore: Any = None, **values: Any) -> Any:
    """A message of ``typename`` with ``values`` set (nested messages as dicts) and every other field zero.

    ``typestore``: the rosbags store whose classes to use (default :func:`writer_typestore`, ROS 2).
    """
    store = typestore or writer_typestore()
    _, fields = store.fielddefs[typename]
    unknown = set(values) - {f[0] for f in fields}
    if unknown:
        raise ValueError(f"{typename} has no field(s) {', '.join(sorted(unknown))}")
    return store.types[typename](**{name: _value(desc, values.get(name), store) for name, desc in fields})


def header(stamp: int, frame: str) -> dict[str, Any]:
    sec, nsec = divmod(int(stamp), 1_000_000_000)
    return {"stamp": {"sec": sec, "nanosec": nsec}, "frame_id": frame}


def pointcloud2(
    columns: np.ndarray,
    names: Sequence[str],
    stamp: int,
    frame: str,
    dtypes: Sequence[str] | None = None,
    bigendian: bool = False,
) -> Any:
    """A ``sensor_msgs/PointCloud2`` (height 1) of (N, C) ``columns`` named ``names``.

    ``dtypes`` gives each field's numpy code (``f4`` default; ``u4`` for Ouster's ``t``, ``u2`` for a ring).
    """
    cols = np.asarray(columns)
    codes = list(dtypes or ["f4"] * len(names))
    order = ">" if bigendian else "<"
    rec_dt = np.dtype([(n, order + c) for n, c in zip(names, codes, strict=True)])
    rec = np.empty(len(cols), rec_dt)
    for j, n in enumerate(names):
        rec[n] = cols[:, j]
    fields = [
        {"name": n, "offset": rec_dt.fields[n][1], "datatype": POINTFIELD_OF_CODE[c], "count": 1}  # type: ignore[index]
        for n, c in zip(names, codes, strict=True)
    ]
    return build(
        "sensor_msgs/msg/PointCloud2",
        header=header(stamp, frame),
        height=1,
        width=len(cols),
        fields=fields,
        is_bigendian=bigendian,
        point_step=rec_dt.itemsize,
        row_step=rec_dt.itemsize * len(cols),
        data=rec.view(np.uint8).reshape(-1),
        is_dense=bool(np.isfinite(cols).all()),
    )


def compressed_image(data: bytes, stamp: int, frame: str, fmt: str = "jpeg") -> Any:
    return build(
        "sensor_msgs/msg/CompressedImage",
        header=header(stamp, frame),
        format=fmt,
        data=np.frombuffer(data, np.uint8),
    )


def image(rgb: np.ndarray, stamp: int, frame: str) -> Any:
    """A ``sensor_msgs/Image`` ``rgb8`` of an (H, W, 3) uint8 image."""
    h, w = rgb.shape[:2]
    return build(
        "sensor_msgs/msg/Image",
        header=header(stamp, frame),
        height=h,
        width=w,
        encoding="rgb8",
        step=3 * w,
        data=np.ascontiguousarray(rgb, np.uint8).reshape(-1),
    )


def camera_info(intrinsics: np.ndarray, width: int, height: int, stamp: int, frame: str) -> Any:
    """A ``sensor_msgs/CameraInfo`` of a rectified pinhole camera (plumb_bob, D = 0, R = I, P = [K | 0])."""
    k = np.asarray(intrinsics, np.float64)
    p = np.zeros((3, 4))
    p[:, :3] = k
    return build(
        "sensor_msgs/msg/CameraInfo",
        header=header(stamp, frame),
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=p.reshape(-1),
    )


def _transform(t: Transform) -> dict[str, Any]:
    w, x, y, z = t.quat
    tx, ty, tz = (float(v) for v in t.translation)
    return {"translation": {"x": tx, "y": ty, "z": tz}, "rotation": {"x": x, "y": y, "z": z, "w": w}}


def tf_message(transforms: Sequence[StampedTransform]) -> Any:
    """A ``tf2_msgs/TFMessage`` of ``parent_from_child`` edges."""
    return build(
        "tf2_msgs/msg/TFMessage",
        transforms=[
            {
                "header": header(st.stamp_ns, st.parent),
                "child_frame_id": st.child,
                "transform": _transform(st.transform),
            }
            for st in transforms
        ],
    )


def odometry(
    global_from_ego: Transform,
    stamp: int,
    frame: str = "map",
    child: str = "base_link",
    velocity: Sequence[float] = (0.0, 0.0, 0.0),
    yaw_rate: float = 0.0,
) -> Any:
    """A ``nav_msgs/Odometry``: ego pose in ``frame`` and body twist (m/s, rad/s) in ``child``."""
    tr = _transform(global_from_ego)
    vx, vy, vz = (float(v) for v in velocity)
    return build(
        "nav_msgs/msg/Odometry",
        header=header(stamp, frame),
        child_frame_id=child,
        pose={"pose": {"position": tr["translation"], "orientation": tr["rotation"]}},
        twist={"twist": {"linear": {"x": vx, "y": vy, "z": vz}, "angular": {"z": float(yaw_rate)}}},
    )


def radar_scan(polar: np.ndarray, stamp: int, frame: str) -> Any:
    """A ``radar_msgs/RadarScan`` of (N, 5) rows: range (m), azimuth, elevation (rad), doppler (m/s), amplitude (dB)."""
    rows = np.asarray(polar, np.float64).reshape(-1, 5)
    keys = ("range", "azimuth", "elevation", "doppler_velocity", "amplitude")
    return build(
        "radar_msgs/msg/RadarScan",
        header=header(stamp, frame),
        returns=[dict(zip(keys, (float(v) for v in r), strict=True)) for r in rows],
    )
