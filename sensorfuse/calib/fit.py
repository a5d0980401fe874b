"""Geometric fits for calibration checks: ground plane (RANSAC) and sweep-to-sweep alignment residual.

Open3D is used when it imports (``segment_plane``, point-to-point ICP); otherwise numpy RANSAC and a
scipy cKDTree nearest-neighbour residual give the same quantities.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _open3d() -> Any | None:
    try:
        import open3d

        return open3d
    except Exception as e:  # ImportError, or OSError for a missing libusb
        log.debug("open3d unavailable (%s): numpy fallbacks", e)
        return None


def fit_plane(
    points: np.ndarray, threshold: float = 0.1, iterations: int = 500, seed: int = 0
) -> tuple[np.ndarray, int, str]:
    """Dominant plane of points (N, 3): ``(a, b, c, d)`` with ``a x + b y + c z + d = 0``, unit normal, ``c >= 0``.

    Returns the plane, its inlier count and the backend used (``open3d`` / ``numpy``).
    """
    p = np.asarray(points, dtype=np.float64)[:, :3]
    if len(p) < 3:
        raise ValueError(f"fit_plane needs >= 3 points, got {len(p)}")
    o3d = _open3d()
    if o3d is not None:
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
        plane, inliers = pc.segment_plane(distance_threshold=threshold, ransac_n=3, num_iterations=iterations)
        plane, n_in, backend = np.asarray(plane, dtype=np.float64), len(inliers), "open3d"
    else:
        plane, n_in = _ransac_plane(p, threshold, iterations, seed)
        backend = "numpy"
    plane = plane / np.linalg.norm(plane[:3])
    return (-plane if plane[2] < 0 else plane), n_in, backend


def _ransac_plane(p: np.ndarray, threshold: float, iterations: int, seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    best, best_n = np.array([0.0, 0.0, 1.0, 0.0]), -1
    for _ in range(iterations):
        a, b, c = p[rng.choice(len(p), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n /= norm
        count = int((np.abs(p @ n - n @ a) < threshold).sum())
        if count > best_n:
            best, best_n = np.append(n, -n @ a), count
    inl = np.abs(p @ best[:3] + best[3]) < threshold  # least-squares refit on the inliers
    centre = p[inl].mean(axis=0)
    normal = np.linalg.svd(p[inl] - centre)[2][-1]
    return np.append(normal, -normal @ centre), int(inl.sum())


def nn_residual(source: np.ndarray, target: np.ndarray, max_dist: float = 1.0) -> dict[str, float]:
    """Nearest-neighbour distances from ``source`` (N, 3) to ``target`` (M, 3): median, p90, inlier share."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.asarray(target)[:, :3]).query(
        np.asarray(source)[:, :3], k=1, distance_upper_bound=max_dist
    )
    ok = np.isfinite(d)
    return {
        "median_m": float(np.median(d[ok])) if ok.any() else float("nan"),
        "p90_m": float(np.percentile(d[ok], 90)) if ok.any() else float("nan"),
        "inlier_share": float(ok.mean()) if len(d) else 0.0,
    }


def icp_correction(source: np.ndarray, target: np.ndarray, max_dist: float = 1.0) -> dict[str, float] | None:
    """Open3D point-to-point ICP from source to target: the extra correction it finds and the RMSE.

    A good ego-motion compensation leaves a correction of a few cm and < 0.2°. None without Open3D.
    """
    o3d = _open3d()
    if o3d is None:
        return None
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(source, np.float64)[:, :3]))
    tgt = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(target, np.float64)[:, :3]))
    res = o3d.pipelines.registration.registration_icp(src, tgt, max_dist, np.eye(4))
    t = np.asarray(res.transformation)
    angle = float(np.degrees(np.arccos(np.clip((np.trace(t[:3, :3]) - 1) / 2, -1, 1))))
    return {
        "translation_m": float(np.linalg.norm(t[:3, 3])),
        "rotation_deg": angle,
        "inlier_rmse_m": float(res.inlier_rmse),
        "fitness": float(res.fitness),
    }
