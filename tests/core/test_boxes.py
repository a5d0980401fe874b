"""The box convention against the devkit's Box and points_in_box."""

from __future__ import annotations

import numpy as np
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from sensorfuse import boxes as B
from sensorfuse.geometry import Transform, wrap_angle


def _random_boxes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-20, 20, size=(n, 3))
    size = rng.uniform(0.5, 6.0, size=(n, 3))
    yaw = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return np.concatenate([centre, size, yaw], axis=1)


def _devkit_box(b: np.ndarray) -> Box:
    t, s, q = B.to_nuscenes(b[None])
    return Box(t[0], s[0], Quaternion(q[0]))


def test_nuscenes_round_trip_and_size_order() -> None:
    boxes = _random_boxes(30)
    t, s, q = B.to_nuscenes(boxes)
    np.testing.assert_allclose(s[:, 0], boxes[:, 4])  # nuScenes size is w, l, h
    np.testing.assert_allclose(s[:, 1], boxes[:, 3])
    np.testing.assert_allclose(B.from_nuscenes(t, s, q), boxes, atol=1e-9)


def test_corners_match_devkit_box() -> None:
    for b in _random_boxes(20, seed=1):
        ours = B.box_corners(b[None])[0]
        theirs = _devkit_box(b).corners().T  # (8, 3)
        # same set of corners (ordering conventions differ)
        d = np.linalg.norm(ours[:, None, :] - theirs[None, :, :], axis=-1)
        assert np.all(d.min(axis=1) < 1e-9)


def test_points_in_boxes_matches_devkit() -> None:
    rng = np.random.default_rng(3)
    boxes = _random_boxes(25, seed=2)
    pts = np.concatenate([rng.uniform(-25, 25, size=(20000, 3)), B.box_corners(boxes).reshape(-1, 3) * 0.999])
    ours = B.points_in_boxes(pts, boxes)
    for i, b in enumerate(boxes):
        theirs = points_in_box(_devkit_box(b), pts.T)
        assert np.array_equal(ours[i], theirs), f"box {i}: {ours[i].sum()} vs {theirs.sum()}"
    assert ours.sum() > 100  # the test exercises boxes that do contain points


def test_transform_boxes_matches_devkit_rotate_translate() -> None:
    rng = np.random.default_rng(4)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    q = np.array([q[0], 0.02 * q[1], 0.02 * q[2], q[3]])  # near-yaw rotation, like a sensor mount
    q /= np.linalg.norm(q)
    t_from_s = Transform.from_quat(q, rng.normal(size=3))
    boxes = np.concatenate([_random_boxes(10, seed=5), rng.normal(size=(10, 2))], axis=1)
    out = B.transform_boxes(boxes, t_from_s)
    for b, o in zip(boxes, out):
        box = _devkit_box(b[:7])
        box.velocity = np.array([b[7], b[8], 0.0])
        box.rotate(Quaternion(q))
        box.translate(t_from_s.translation)
        np.testing.assert_allclose(o[:3], box.center, atol=1e-9)
        heading = box.orientation.rotation_matrix[:, 0]  # the box's x axis (its length axis) after rotation
        assert abs(wrap_angle(o[6] - np.arctan2(heading[1], heading[0]))) < 1e-9
        # pyquaternion's yaw_pitch_roll differs only at second order in the mount's tilt
        assert abs(wrap_angle(o[6] - box.orientation.yaw_pitch_roll[0])) < 5e-3
        np.testing.assert_allclose(o[7:9], box.velocity[:2], atol=1e-9)
