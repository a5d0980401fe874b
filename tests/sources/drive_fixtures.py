"""Test drives: a nuScenes scene as a Drive, and synthetic recordings of another rig written with the bag
writers (one camera, an Ouster-like LiDAR with per-point time, a RadarScan radar, odometry)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.sources import ros_build as rb
from sensorfuse.sources.bag_writer import McapRos2Writer, open_writer
from sensorfuse.sources.markers import marker_array
from sensorfuse.sources.ros_msgs import StampedTransform


def nuscenes_drive(dataroot: Path, version: str, scene: str) -> Any:
    """One scene of a nuScenes-format dataroot as a Drive."""
    from sensorfuse.sources.nuscenes import NuScenesDrive, NuScenesIndex

    return NuScenesDrive(NuScenesIndex(dataroot, version), scene)


# ------------------------------------------------------------------------------------ another rig

T0 = 1_700_000_000_000_000_000
LIDAR_DT = 100_000_000  # 10 Hz
SPEED = 10.0  # m/s along x
K = np.array([[200.0, 0, 80], [0, 200, 45], [0, 0, 1]])
EGO_FROM_OS = Transform.from_quat(yaw_to_quat(0.3), [1.0, 0.0, 1.9])
EGO_FROM_CAM = Transform.from_quat([0.5, -0.5, 0.5, -0.5], [1.6, 0.0, 1.5])
EGO_FROM_RADAR = Transform.from_quat([1.0, 0, 0, 0], [3.5, 0.0, 0.6])
#: Static world points (global frame) the rotating LiDAR sees: a wall 20 m ahead, and posts.
WORLD = np.array(
    [[20.0, y, z] for y in np.linspace(-8, 8, 33) for z in (0.5, 1.5)]
    + [[x, 6.0, 1.0] for x in np.linspace(-10, 25, 36)],
    np.float64,
)


def ego_pose(t_ns: int) -> Transform:
    """The ego drives straight along +x at SPEED from the origin at T0."""
    return Transform.from_quat([1.0, 0, 0, 0], [SPEED * (t_ns - T0) * 1e-9, 0.0, 0.0])


def rotating_sweep(stamp: int) -> tuple[np.ndarray, np.ndarray]:
    """A spinning LiDAR's sweep of WORLD over [stamp, stamp + 0.1 s): each point measured when the beam
    passes its azimuth, in the sensor frame of that moment. Returns (points (N, 4), offsets ns uint32) and
    the exact points of a sensor frozen at ``stamp`` are :func:`frozen_sweep`."""
    g_s0 = ego_pose(stamp) @ EGO_FROM_OS
    az = np.arctan2(*(g_s0.inverse().apply(WORLD)[:, [1, 0]].T))
    frac = (az + np.pi) / (2 * np.pi)
    offsets = np.round(frac * 0.099e9).astype(np.uint32)
    pts = np.zeros((len(WORLD), 4), np.float32)
    for i, (p, off) in enumerate(zip(WORLD, offsets, strict=True)):
        g_si = ego_pose(stamp + int(off)) @ EGO_FROM_OS
        pts[i, :3] = g_si.inverse().apply(p[None])[0]
        pts[i, 3] = 10.0
    return pts, offsets


def frozen_sweep(stamp: int) -> np.ndarray:
    """WORLD in the LiDAR frame at ``stamp`` (what a deskewed sweep should be)."""
    return (ego_pose(stamp) @ EGO_FROM_OS).inverse().apply(WORLD)


def jpeg(i: int, w: int = 160, h: int = 90) -> bytes:
    return cv2.imencode(".jpg", np.full((h, w, 3), (10 * i, 90, 200), np.uint8))[1].tobytes()


#: A rig of another car: one camera, an Ouster-like LiDAR named os_top, a RadarScan radar, /odom.
OTHER_RIG = """
name: other-car
reference: os_top
odometry: /odom
ego_frame: base_link
global_frame: odom
sensors:
  os_top:
    modality: lidar
    topic: /ouster/points
    time_field: t
  CAM_FRONT:
    modality: camera
    topic: /front/image/compressed
  RADAR_FRONT:
    modality: radar
    topic: /radar/scan
"""


def write_other_rig_bag(
    path: Path,
    container: str = "mcap",
    frames: int = 4,
    *,
    static_frames: Sequence[str] = ("os_lidar", "cam", "radar"),
    lidar_fields: Sequence[str] = ("x", "y", "z", "intensity", "t"),
    focal: float = 200.0,
    nan_points: int = 0,
    boxes_frame: str = "",
    unknown_topic: bool = False,
    chunk_size: int = 1024 * 1024,
) -> None:
    """A recording of :data:`OTHER_RIG`: ``frames`` LiDAR sweeps at 10 Hz with camera, radar, odometry.

    ``static_frames``: the sensor frames /tf_static holds; ``nan_points``: rows of each sweep set to NaN;
    ``boxes_frame``: write one car box per sweep on ``/gt`` (MarkerArray) in that frame; ``unknown_topic``:
    add ``/acme`` of a type the file has no definition for (MCAP only); ``chunk_size``: of the MCAP.
    """
    mounts = {"os_lidar": EGO_FROM_OS, "cam": EGO_FROM_CAM, "radar": EGO_FROM_RADAR}
    with McapRos2Writer(path, chunk_size) if container == "mcap" else open_writer(path, container) as w:
        static = [StampedTransform("base_link", f, T0, mounts[f]) for f in static_frames]
        w.write("/tf_static", "tf2_msgs/msg/TFMessage", rb.tf_message(static), T0)
        if unknown_topic:
            raw = w._w  # the mcap writer: a channel whose schema carries no definition
            blob = raw.register_channel(
                "/acme", "cdr", raw.register_schema("acme_msgs/msg/Blob", "ros2msg", b"")
            )
            for k in range(3):
                raw.add_message(blob, log_time=T0 + k, publish_time=T0 + k, data=b"\x00\x01\x00\x00")
        for k in range(-1, 2 * frames + 2):  # odometry at 20 Hz, covering every sweep
            t = T0 + k * LIDAR_DT // 2
            w.write(
                "/odom",
                "nav_msgs/msg/Odometry",
                rb.odometry(ego_pose(t), t, "odom", velocity=(SPEED, 0, 0)),
                t,
            )
        for i in range(frames):
            t = T0 + i * LIDAR_DT
            pts, off = rotating_sweep(t)
            cols = np.concatenate([pts, off[:, None].astype(np.float64)], axis=1)
            cols[:nan_points, :3] = np.nan
            names = list(lidar_fields)
            codes = ["f4"] * (len(names) - 1) + ["u4"]
            w.write(
                "/ouster/points",
                "sensor_msgs/msg/PointCloud2",
                rb.pointcloud2(cols[:, : len(names)], names, t, "os_lidar", codes),
                t,
            )
            tc = t + 20_000_000
            w.write(
                "/front/image/compressed",
                "sensor_msgs/msg/CompressedImage",
                rb.compressed_image(jpeg(i), tc, "cam"),
                tc,
            )
            k = K.copy()
            k[0, 0] = k[1, 1] = focal
            w.write(
                "/front/camera_info", "sensor_msgs/msg/CameraInfo", rb.camera_info(k, 160, 90, tc, "cam"), tc
            )
            tr = t + 30_000_000
            polar = np.array([[15.0, 0.2, 0.0, -SPEED * np.cos(0.2), 20.0], [30.0, -0.1, 0.05, 2.0, 10.0]])
            w.write("/radar/scan", "radar_msgs/msg/RadarScan", rb.radar_scan(polar, tr, "radar"), tr)
            if boxes_frame:
                arr = marker_array(
                    BOX, ["car", "alien"], np.ones(2), t, boxes_frame, [{"attribute": "vehicle.moving"}, {}]
                )
                w.write("/gt", "visualization_msgs/msg/MarkerArray", arr, t)


#: The annotation of :func:`write_other_rig_bag` (a car, and a box of an unknown class).
BOX = np.array(
    [[12.0, 2.0, 0.8, 4.5, 1.9, 1.6, 0.25, 3.0, 0.0], [5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]
)
