"""TF buffer: chain lookup through static and dynamic edges, interpolation, and named errors."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.sources.ros_msgs import StampedTransform
from sensorfuse.sources.tf_buffer import TfBuffer, TransformTrack

S = 1_000_000_000  # 1 s in ns


def _t(yaw: float, xyz: tuple[float, float, float]) -> Transform:
    return Transform.from_quat(yaw_to_quat(yaw), xyz)


def _rig() -> TfBuffer:
    """map -> base_link (moving, /tf) -> lidar (static), base_link -> cam (static)."""
    buf = TfBuffer("drive.mcap")
    buf.add(StampedTransform("base_link", "lidar", 0, _t(0.1, (1.0, 0.0, 1.8))), static=True)
    buf.add(StampedTransform("base_link", "cam", 0, _t(-np.pi / 2, (1.5, 0.0, 1.5))), static=True)
    buf.add(StampedTransform("map", "base_link", 10 * S, _t(0.0, (0.0, 0.0, 0.0))), static=False)
    buf.add(StampedTransform("map", "base_link", 12 * S, _t(1.0, (20.0, 4.0, 0.0))), static=False)
    return buf


def test_chain_lookup_static_and_dynamic() -> None:
    buf = _rig()
    cam_from_lidar = buf.lookup("cam", "lidar")  # static only: no time needed
    expect = _t(-np.pi / 2, (1.5, 0.0, 1.5)).inverse() @ _t(0.1, (1.0, 0.0, 1.8))
    np.testing.assert_allclose(cam_from_lidar.matrix, expect.matrix, atol=1e-12)
    map_from_lidar = buf.lookup("map", "lidar", 11 * S)  # halfway: translation lerp, yaw slerp
    np.testing.assert_allclose(
        map_from_lidar.matrix, (_t(0.5, (10.0, 2.0, 0.0)) @ _t(0.1, (1.0, 0.0, 1.8))).matrix, atol=1e-9
    )
    lidar_from_map = buf.lookup("lidar", "map", 11 * S)
    np.testing.assert_allclose(lidar_from_map.matrix, map_from_lidar.inverse().matrix, atol=1e-9)
    np.testing.assert_allclose(buf.lookup("lidar", "lidar", 0).matrix, np.eye(4))


def test_static_edges_persist_dynamic_need_time() -> None:
    """Static transforms hold at any time (a seek far away); dynamic ones need a time and go stale."""
    buf = _rig()
    for t in (0, 10 * S, 999 * S):
        np.testing.assert_allclose(
            buf.lookup("base_link", "lidar", t).matrix, _t(0.1, (1.0, 0.0, 1.8)).matrix
        )
    with pytest.raises(DataError, match="needs a time"):
        buf.lookup("map", "lidar")
    with pytest.raises(DataError, match=r"/tf map -> base_link: no transform near") as e:
        buf.lookup("map", "lidar", 13 * S)
    assert e.value.reason == "stale"
    buf.lookup("map", "lidar", 12 * S + 50_000_000)  # held within 0.1 s of the last stamp


def test_missing_tf_static_for_frame() -> None:
    """class: broken chain — a sensor frame without /tf_static is named in the error."""
    buf = _rig()
    with pytest.raises(
        DataError,
        match=r"drive\.mcap \[/tf_static\]: frame 'radar_front' is in no /tf.*missing /tf_static for frame radar_front",
    ) as e:
        buf.lookup("base_link", "radar_front", 11 * S)
    assert e.value.reason == "broken chain"
    buf.add(StampedTransform("radar_mount", "radar_front", 0, _t(0.0, (0.0, 0.0, 0.0))), static=True)
    with pytest.raises(
        DataError,
        match=r"not connected.*chains up to 'radar_mount'.*missing /tf_static for frame radar_mount",
    ):
        buf.lookup("base_link", "radar_front", 11 * S)


def test_two_parents_and_cycle_rejected() -> None:
    buf = _rig()
    with pytest.raises(DataError, match="two parents") as e:
        buf.add(StampedTransform("odom", "lidar", 0, Transform.identity()), static=True)
    assert e.value.reason == "bad calibration"
    loop = TfBuffer("x")
    loop.add(StampedTransform("a", "b", 0, Transform.identity()), static=True)
    loop.add(StampedTransform("b", "a", 0, Transform.identity()), static=True)
    with pytest.raises(DataError, match="cycle"):
        loop.lookup("a", "b")


def test_transform_track_out_of_order_and_slerp_shortest_arc() -> None:
    """Stamps added out of order; interpolation across yaw ±pi takes the short way."""
    tr = TransformTrack("f", "ego pose")
    tr.add(2 * S, _t(-3.0, (2.0, 0.0, 0.0)))
    tr.add(0, _t(3.0, (0.0, 0.0, 0.0)))
    mid = tr.at(S)
    yaw = np.arctan2(mid.rotation[1, 0], mid.rotation[0, 0])
    assert abs(abs(yaw) - np.pi) < 1e-6  # halfway between 3.0 and -3.0 the short way is pi, not 0
    np.testing.assert_allclose(mid.translation, [1.0, 0.0, 0.0])
    assert tr.span_ns == (0, 2 * S)
