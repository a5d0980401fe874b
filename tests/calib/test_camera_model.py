"""Pinhole model: project/unproject round trip, resize/crop intrinsics against OpenCV, intrinsics checks."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorfuse.calib.camera import (
    cam_from_lidar,
    check_intrinsics,
    in_image,
    project,
    unproject,
)
from sensorfuse.geometry import Transform, crop_intrinsics, scale_intrinsics, yaw_to_quat

K = np.array([[1266.417, 0, 816.267], [0, 1266.417, 491.507], [0, 0, 1]])


@settings(max_examples=50, deadline=None)
@given(u=st.floats(0, 1599), v=st.floats(0, 899), d=st.floats(0.5, 200.0))
def test_unproject_then_project_round_trip(u: float, v: float, d: float) -> None:
    p = unproject(np.array([[u, v]]), np.array([d]), K)
    uv, depth = project(p, K)
    np.testing.assert_allclose(uv[0], [u, v], atol=1e-6)
    assert abs(depth[0] - d) < 1e-9


def test_points_behind_the_camera_are_nan_and_not_in_image() -> None:
    uv, depth = project(np.array([[0.0, 0.0, -5.0], [0.0, 0.0, 5.0]]), K)
    assert np.isnan(uv[0]).all() and np.allclose(uv[1], K[:2, 2])
    assert in_image(uv, depth, 1600, 900).tolist() == [False, True]


def _blob_centre(img: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    w = img.astype(np.float64)
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


def test_scale_and_crop_intrinsics_match_opencv_resize() -> None:
    img = np.zeros((400, 640), np.float32)
    cv2.circle(img, (301, 157), 12, 1.0, -1)
    p = unproject(np.array([[301.0, 157.0]]), np.array([10.0]), K)
    for s in (0.5, 0.25, 0.4):
        small = cv2.resize(
            img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s in (0.5, 0.25) else cv2.INTER_LINEAR
        )
        uv, _ = project(p, scale_intrinsics(K, s))
        np.testing.assert_allclose(uv[0], _blob_centre(small), atol=0.05)
    uv, _ = project(p, crop_intrinsics(K, 100, 40))
    np.testing.assert_allclose(uv[0], _blob_centre(img[40:, 100:]), atol=1e-3)


def test_check_intrinsics_flags_bad_values() -> None:
    assert check_intrinsics(K, 1600, 900) == []
    bad = K.copy()
    bad[0, 0] = -1
    assert any("focal" in p for p in check_intrinsics(bad, 1600, 900))
    bad = K.copy()
    bad[0, 2] = 5000
    assert any("principal point" in p for p in check_intrinsics(bad, 1600, 900))


def test_cam_from_lidar_goes_through_the_global_frame() -> None:
    ego_from_lidar = Transform.from_quat(yaw_to_quat(-np.pi / 2), [1.0, 0.0, 1.8])
    ego_from_cam = Transform.from_quat([0.5, -0.5, 0.5, -0.5], [1.7, 0.0, 1.5])
    g_lidar = Transform.from_quat(yaw_to_quat(0.3), [100.0, 50.0, 0.0])
    g_cam = Transform.from_quat(yaw_to_quat(0.31), [100.5, 50.2, 0.0])  # ego moved before the camera fired
    world_pt = np.array([[120.0, 60.0, 1.0]])
    lidar_pt = (g_lidar @ ego_from_lidar).inverse().apply(world_pt)
    expect = (g_cam @ ego_from_cam).inverse().apply(world_pt)
    got = cam_from_lidar(ego_from_lidar, g_lidar, g_cam, ego_from_cam).apply(lidar_pt)
    np.testing.assert_allclose(got, expect, atol=1e-9)
    static = (ego_from_cam.inverse() @ ego_from_lidar).apply(lidar_pt)
    assert np.abs(static - expect).max() > 0.3  # ignoring ego motion would be visibly wrong
