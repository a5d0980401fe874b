"""Rigid transforms and quaternions.

Conventions (used everywhere in sensorfuse):

* A transform is named ``target_from_source``: it maps coordinates expressed in frame *source* to frame
  *target*. Transforms compose right to left, so
  ``cam_from_lidar = cam_from_ego @ ego_from_global @ global_from_ego_t0 @ ego_from_lidar``.
* Quaternions are ``(w, x, y, z)``, unit norm, as in nuScenes tables.
* Frames: ``global`` (map, z up), ``ego`` (rear-axle centre, x forward, y left, z up), ``lidar``
  (LIDAR_TOP: x right, y forward, z up), ``radar`` (x forward, y left), ``cam`` (OpenCV: x right, y down,
  z forward). The model's reference frame is the LIDAR_TOP frame at the keyframe timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensorfuse.errors import ConfigError

FloatArray = npt.NDArray[np.floating]


def quat_to_matrix(q: Sequence[float] | FloatArray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion ``(w, x, y, z)``; the quaternion is normalised first."""
    w, x, y, z = (float(v) for v in q)
    n = np.sqrt(w * w + x * x + y * y + z * z)
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"quaternion {list(q)!r} has zero or non-finite norm")
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(r: FloatArray) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` with ``w >= 0`` of a rotation matrix (3, 3)."""
    m = np.asarray(r, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    qa = np.asarray(q, dtype=np.float64)
    qa /= np.linalg.norm(qa)
    return -qa if qa[0] < 0 else qa


def yaw_to_quat(yaw: float) -> np.ndarray:
    """Quaternion ``(w, x, y, z)`` of a rotation by ``yaw`` radians about +z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(q: Sequence[float] | FloatArray) -> float:
    """Yaw (rotation about +z, radians in (-pi, pi]) of the x axis rotated by quaternion ``q``."""
    r = quat_to_matrix(q)
    return float(np.arctan2(r[1, 0], r[0, 0]))


def wrap_angle(a: FloatArray | float) -> FloatArray | float:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def check_rotation(r: FloatArray, where: str, tol: float = 1e-4) -> None:
    """Raise :class:`ConfigError` unless ``r`` is a proper rotation (orthonormal, det +1)."""
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (3, 3) or not np.all(np.isfinite(r)):
        raise ConfigError(f"{where}: rotation must be a finite 3x3 matrix, got shape {r.shape}")
    err = float(np.abs(r @ r.T - np.eye(3)).max())
    if err > tol:
        raise ConfigError(f"{where}: rotation is not orthonormal (max |R R^T - I| = {err:.3g} > {tol})")
    det = float(np.linalg.det(r))
    if abs(det - 1.0) > tol:
        raise ConfigError(f"{where}: rotation has determinant {det:.4f}, expected +1 (a reflection?)")


@dataclass(frozen=True)
class Transform:
    """A rigid transform ``target_from_source`` as a (4, 4) float64 matrix.

    ``T.apply(p)`` maps points (N, 3) from *source* to *target*; ``A @ B`` composes (B first, then A).
    """

    matrix: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"Transform needs a (4, 4) matrix, got {m.shape}")
        object.__setattr__(self, "matrix", m)

    @staticmethod
    def identity() -> Transform:
        return Transform(np.eye(4))

    @staticmethod
    def from_rt(rotation: FloatArray, translation: Sequence[float] | FloatArray) -> Transform:
        m = np.eye(4)
        m[:3, :3] = np.asarray(rotation, dtype=np.float64)
        m[:3, 3] = np.asarray(translation, dtype=np.float64)
        return Transform(m)

    @staticmethod
    def from_quat(
        quat_wxyz: Sequence[float] | FloatArray, translation: Sequence[float] | FloatArray
    ) -> Transform:
        """From a nuScenes ``rotation`` (w, x, y, z) and ``translation`` (x, y, z)."""
        return Transform.from_rt(quat_to_matrix(quat_wxyz), translation)

    @property
    def rotation(self) -> np.ndarray:
        return self.matrix[:3, :3]

    @property
    def translation(self) -> np.ndarray:
        return self.matrix[:3, 3]

    @property
    def quat(self) -> np.ndarray:
        return matrix_to_quat(self.rotation)

    def inverse(self) -> Transform:
        r = self.rotation
        m = np.eye(4)
        m[:3, :3] = r.T
        m[:3, 3] = -r.T @ self.translation
        return Transform(m)

    def __matmul__(self, other: Transform) -> Transform:
        return Transform(self.matrix @ other.matrix)

    def apply(self, points: FloatArray) -> np.ndarray:
        """Map points (N, 3) (extra columns are ignored and not returned) from source to target."""
        p = np.asarray(points)
        return p[:, :3] @ self.rotation.T.astype(p.dtype, copy=False) + self.translation.astype(
            p.dtype, copy=False
        )

    def rotate(self, vectors: FloatArray) -> np.ndarray:
        """Rotate direction vectors (N, 3) (velocities); no translation."""
        v = np.asarray(vectors)
        return v[:, :3] @ self.rotation.T.astype(v.dtype, copy=False)


# -- pinhole intrinsics (K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], OpenCV pixel centres) --------------------
def scale_intrinsics(intrinsics: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    """K of the image resized by ``sx`` horizontally and ``sy`` vertically (default ``sy = sx``).

    Uses the pixel-corner model of ``cv2.resize``: ``u' = (u + 0.5) * s - 0.5``.
    """
    sy = sx if sy is None else sy
    k = np.array(intrinsics, dtype=np.float64, copy=True)
    k[0, 0] *= sx
    k[0, 1] *= sx
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 1] *= sy
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def crop_intrinsics(intrinsics: np.ndarray, left: float, top: float) -> np.ndarray:
    """K of the image cropped so that pixel ``(left, top)`` becomes ``(0, 0)``."""
    k = np.array(intrinsics, dtype=np.float64, copy=True)
    k[0, 2] -= left
    k[1, 2] -= top
    return k
