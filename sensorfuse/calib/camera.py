"""Pinhole camera model (images are already undistorted in nuScenes).

Camera frame = OpenCV: x right, y down, z forward (depth). Pixel ``(u, v)``: u along image columns
(right), v along rows (down); pixel centres at integer coordinates (OpenCV). ``K = [[fx, 0, cx], [0, fy,
cy], [0, 0, 1]]``.
"""

from __future__ import annotations

import numpy as np

from sensorfuse.geometry import Transform


def project(
    points_cam: np.ndarray, intrinsics: np.ndarray, min_depth: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Project camera-frame points (N, 3) to pixels.

    Returns:
        uv: (N, 2) float64 pixel coordinates; NaN where ``depth <= min_depth`` (behind the camera).
        depth: (N,) float64 z in the camera frame.
    """
    p = np.asarray(points_cam, dtype=np.float64)[:, :3]
    k = np.asarray(intrinsics, dtype=np.float64)
    depth = p[:, 2].copy()
    uvw = p @ k.T
    uv = np.full((len(p), 2), np.nan)
    ok = depth > min_depth
    uv[ok] = uvw[ok, :2] / uvw[ok, 2:3]
    return uv, depth


def unproject(uv: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixels (N, 2) at depths (N,) (camera z) → camera-frame points (N, 3)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(depth, dtype=np.float64).reshape(-1)
    k_inv = np.linalg.inv(np.asarray(intrinsics, dtype=np.float64))
    rays = np.concatenate([uv, np.ones((len(uv), 1))], axis=1) @ k_inv.T
    return rays * (d / rays[:, 2])[:, None]


def in_image(
    uv: np.ndarray, depth: np.ndarray, width: int, height: int, min_depth: float = 0.1
) -> np.ndarray:
    """Mask (N,): in front of the camera and inside the image ``[0, width) x [0, height)``."""
    with np.errstate(invalid="ignore"):
        return (
            (depth > min_depth) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        )


def cam_from_lidar(
    ego_from_lidar: Transform,
    global_from_ego_at_lidar: Transform,
    global_from_ego_at_cam: Transform,
    ego_from_cam: Transform,
) -> Transform:
    """LiDAR → camera at the camera's own timestamp.

    ``cam_from_lidar = cam_from_ego @ ego(t_cam)_from_global @ global_from_ego(t_lidar) @ ego_from_lidar``:
    the ego moves between the LiDAR and the camera capture, so the chain goes through the global frame.
    """
    return (
        ego_from_cam.inverse() @ global_from_ego_at_cam.inverse() @ global_from_ego_at_lidar @ ego_from_lidar
    )


def projection_matrix(intrinsics: np.ndarray, cam_from_source: Transform) -> np.ndarray:
    """(3, 4) matrix ``K [R | t]`` mapping homogeneous source points to homogeneous pixels."""
    return np.asarray(intrinsics, dtype=np.float64) @ cam_from_source.matrix[:3, :]


def check_intrinsics(intrinsics: np.ndarray, width: int, height: int) -> list[str]:
    """Problems with a K (empty list when sane): finite, positive focal lengths, principal point inside,
    zero skew, square-ish pixels, bottom row ``[0, 0, 1]``."""
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        return [f"intrinsics must be a finite 3x3 matrix, got shape {k.shape}"]
    probs = []
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        probs.append(f"focal lengths must be > 0, got fx={k[0, 0]:.3f} fy={k[1, 1]:.3f}")
    elif not 0.9 < k[0, 0] / k[1, 1] < 1.1:
        probs.append(f"fx/fy = {k[0, 0] / k[1, 1]:.3f} is far from 1 (non-square pixels?)")
    if not (0 <= k[0, 2] <= width and 0 <= k[1, 2] <= height):
        probs.append(f"principal point ({k[0, 2]:.1f}, {k[1, 2]:.1f}) outside the {width}x{height} image")
    if abs(k[0, 1]) > 1e-6 * max(abs(k[0, 0]), 1.0):
        probs.append(f"skew {k[0, 1]:.3g} is not 0")
    if not np.allclose(k[2], [0, 0, 1]):
        probs.append(f"last row {k[2].tolist()} is not [0, 0, 1]")
    return probs
