r"""The one 3D box convention of sensorfuse.

A box is a row ``(x, y, z, l, w, h, yaw)`` (optionally followed by ``vx, vy``) in a named frame
(the model's reference frame is LIDAR_TOP at the keyframe; annotations on disk are in ``global``):

* ``x, y, z``  — the box **centre** (gravity centre, not the bottom face), metres;
* ``l, w, h``  — length along the box's heading, width across it, height, metres.
  (nuScenes tables store ``size = [w, l, h]``: use :func:`from_nuscenes` / :func:`to_nuscenes`);
* ``yaw``      — rotation about the frame's +z axis from the frame's +x axis to the heading (the
  length axis), counter-clockwise seen from above, radians in [-pi, pi);
* ``vx, vy``   — velocity of the centre in the same frame, m/s.

::

                 +y (frame)
                  ^        heading (length axis, l)
                  |       /
                  |   +--/-----+
                  |  /  / yaw  /   w across the heading
                  | /  o----> /----- +x'
                  |+---------+
                  +-----------------> +x (frame)
                 z up, out of the page; the box spans z - h/2 .. z + h/2

Corner order of :func:`box_corners` (local frame, x' forward, y' left):
0..3 the top face, 4..7 the bottom face, each as front-left, front-right, back-right, back-left.
"""

from __future__ import annotations

import numpy as np

from sensorfuse.geometry import Transform, matrix_to_quat, quat_to_matrix, wrap_angle


def from_nuscenes(translation: np.ndarray, size_wlh: np.ndarray, rotation_wxyz: np.ndarray) -> np.ndarray:
    """nuScenes ``translation`` (N, 3), ``size`` (N, 3) as w,l,h, ``rotation`` (N, 4) wxyz → boxes (N, 7)."""
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    s = np.asarray(size_wlh, dtype=np.float64).reshape(-1, 3)
    q = np.asarray(rotation_wxyz, dtype=np.float64).reshape(-1, 4)
    yaw = np.array([_heading_yaw(quat_to_matrix(qi)) for qi in q], dtype=np.float64)
    return np.concatenate([t, s[:, [1, 0, 2]], yaw[:, None]], axis=1)


def to_nuscenes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, >=7) → nuScenes ``translation`` (N, 3), ``size`` (N, 3) w,l,h, ``rotation`` (N, 4) wxyz."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, boxes.shape[-1] if boxes.ndim else 7)
    half = b[:, 6] / 2.0
    q = np.stack([np.cos(half), np.zeros_like(half), np.zeros_like(half), np.sin(half)], axis=1)
    return b[:, :3].copy(), b[:, [4, 3, 5]].copy(), q


def _heading_yaw(rot: np.ndarray) -> float:
    """Yaw of the rotated +x axis (the heading) projected onto the frame's xy plane."""
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def transform_boxes(boxes: np.ndarray, target_from_source: Transform) -> np.ndarray:
    """Express boxes (N, 7 or 9) given in *source* in *target*: centres move, headings and velocities rotate.

    The heading is rotated as a 3D vector and its yaw re-read in the target xy plane (like the devkit's
    ``Box.rotate`` followed by ``yaw_pitch_roll[0]``), so small roll/pitch of a sensor mount is handled.
    """
    b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, boxes.shape[-1])
    if len(b) == 0:
        return b
    r = target_from_source.rotation
    b[:, :3] = target_from_source.apply(b[:, :3])
    heading = np.stack([np.cos(b[:, 6]), np.sin(b[:, 6]), np.zeros(len(b))], axis=1) @ r.T
    b[:, 6] = wrap_angle(np.arctan2(heading[:, 1], heading[:, 0]))
    if b.shape[1] >= 9:
        v = np.concatenate([b[:, 7:9], np.zeros((len(b), 1))], axis=1) @ r.T
        b[:, 7:9] = v[:, :2]
    return b


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners (N, 8, 3) of boxes (N, >=7) in the boxes' frame, in the order documented above."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, boxes.shape[-1])
    l, w, h = b[:, 3:4] / 2, b[:, 4:5] / 2, b[:, 5:6] / 2
    sx = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=np.float64)
    sy = np.array([1, -1, -1, 1, 1, -1, -1, 1], dtype=np.float64)
    sz = np.array([1, 1, 1, 1, -1, -1, -1, -1], dtype=np.float64)
    lx, ly, lz = l * sx, w * sy, h * sz  # (N, 8)
    c, s = np.cos(b[:, 6:7]), np.sin(b[:, 6:7])
    x = c * lx - s * ly + b[:, 0:1]
    y = s * lx + c * ly + b[:, 1:2]
    z = lz + b[:, 2:3]
    return np.stack([x, y, z], axis=-1)


def points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mask (N_boxes, N_points): point inside box, faces inclusive (as the devkit's ``points_in_box``).

    Args:
        points: (M, >=3) points in the boxes' frame; extra columns are ignored.
        boxes: (N, >=7) boxes.
    """
    p = np.asarray(points, dtype=np.float64)[:, :3]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, boxes.shape[-1] if boxes.ndim == 2 else 7)
    out = np.zeros((len(b), len(p)), dtype=bool)
    if len(p) == 0 or len(b) == 0:
        return out
    for i, bi in enumerate(b):
        r2 = (bi[3] ** 2 + bi[4] ** 2) / 4.0
        near = np.flatnonzero(((p[:, 0] - bi[0]) ** 2 + (p[:, 1] - bi[1]) ** 2) <= r2 + 1e-9)
        if len(near) == 0:
            continue
        d = p[near] - bi[:3]
        c, s = np.cos(bi[6]), np.sin(bi[6])
        lx = c * d[:, 0] + s * d[:, 1]
        ly = -s * d[:, 0] + c * d[:, 1]
        inside = (np.abs(lx) <= bi[3] / 2) & (np.abs(ly) <= bi[4] / 2) & (np.abs(d[:, 2]) <= bi[5] / 2)
        out[i, near[inside]] = True
    return out


def count_points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Number of points inside each box, (N_boxes,) int64."""
    return points_in_boxes(points, boxes).sum(axis=1).astype(np.int64)


def yaw_quat(yaw: float) -> np.ndarray:
    """Quaternion (w, x, y, z) for a heading ``yaw`` about +z."""
    return matrix_to_quat(
        np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    )
