"""Deskewing a rotating LiDAR sweep by ego motion (pure numpy, vectorised over points).

A spinning LiDAR measures point *i* at time ``t_i`` in the sensor frame *as it was at t_i*; on a moving car
one sweep therefore mixes sensor poses, and a straight wall comes out sheared. Deskewing moves every point
into the sensor frame at one reference time ``t_ref``::

    p_ref = sensor_ref_from_sensor_ti @ p_i
          = sensor_from_ego @ (ego_ref_from_ego_ti) @ ego_from_sensor @ p_i

with ``ego_ref_from_ego_ti`` from an ego-motion model. Times are float seconds on one clock (the per-point
offsets of :class:`~sensorfuse.sources.ros_msgs.LidarScan`, relative to the message stamp). Two models:

* :class:`TwistMotion`: constant body velocity ``(vx, vy, vz)`` (m/s, ego frame) and yaw rate (rad/s) over
  the sweep, integrated exactly (the arc of a constant-curvature drive), e.g. from ``nav_msgs/Odometry``;
* :class:`PoseMotion`: two ego poses ``global_from_ego`` at ``t0`` and ``t1`` (e.g. odometry or /tf before
  and after the sweep), interpolated linearly in translation and by slerp in rotation (extrapolated by the
  same rule outside [t0, t1]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sensorfuse.geometry import Transform


class EgoMotion(Protocol):
    """An ego-motion model: where the ego frame at time ``t`` sits in the ego frame at ``t_ref``."""

    def apply(self, points_ego: np.ndarray, t: np.ndarray, t_ref: float) -> np.ndarray:
        """Map points (N, 3) given in the ego frame at times ``t`` (N,) into the ego frame at ``t_ref``."""
        ...


def _rotate_z(p: np.ndarray, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1], p[:, 2]], axis=1)


def _rodrigues(p: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate each row of ``p`` about the unit ``axis`` (3,) by its ``angle`` (N,)."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return p * c + np.cross(axis, p) * s + np.outer(p @ axis, axis) * (1 - c)


@dataclass(frozen=True)
class TwistMotion:
    """Constant body velocity (m/s, ego frame) and yaw rate (rad/s) over the sweep; planar rotation."""

    velocity: tuple[float, float, float]
    yaw_rate: float

    def _pose(self, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Yaw (N,) and translation (N, 3) of the ego at ``t0 + dt`` in the ego frame at ``t0``."""
        vx, vy, vz = self.velocity
        w = self.yaw_rate
        yaw = w * dt
        if abs(w) < 1e-9:
            return yaw, np.stack([vx * dt, vy * dt, vz * dt], axis=1)
        s, c1 = np.sin(yaw) / w, (1 - np.cos(yaw)) / w  # integral of R(w s) ds
        return yaw, np.stack([s * vx - c1 * vy, c1 * vx + s * vy, vz * dt], axis=1)

    def apply(self, points_ego: np.ndarray, t: np.ndarray, t_ref: float) -> np.ndarray:
        yaw, trans = self._pose(np.asarray(t, np.float64) - t_ref)
        return _rotate_z(points_ego, yaw) + trans


@dataclass(frozen=True)
class PoseMotion:
    """Two ego poses ``global_from_ego`` at ``t0`` and ``t1`` (s); interpolated (lerp + slerp)."""

    pose0: Transform
    t0: float
    pose1: Transform
    t1: float
    _axis: np.ndarray = field(init=False, repr=False, compare=False)
    _angle: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.t1 > self.t0:
            raise ValueError(f"PoseMotion needs t1 > t0, got t0={self.t0} t1={self.t1}")
        rel = self.pose0.rotation.T @ self.pose1.rotation  # R0^T R1, rotation over [t0, t1] in ego_t0
        angle = float(np.arccos(np.clip((np.trace(rel) - 1) / 2, -1.0, 1.0)))
        axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
        n = float(np.linalg.norm(axis))
        # a rotation of ~180 degrees within one interval has no stable axis here: not a sweep's motion
        axis, angle = (axis / n, angle) if n > 1e-12 else (np.array([0.0, 0.0, 1.0]), 0.0)
        object.__setattr__(self, "_axis", axis)
        object.__setattr__(self, "_angle", angle)

    def _to_global(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        a = (np.asarray(t, np.float64) - self.t0) / (self.t1 - self.t0)
        rotated = _rodrigues(p, self._axis, a * self._angle) @ self.pose0.rotation.T
        return (
            rotated + self.pose0.translation + a[:, None] * (self.pose1.translation - self.pose0.translation)
        )

    def apply(self, points_ego: np.ndarray, t: np.ndarray, t_ref: float) -> np.ndarray:
        g = self._to_global(points_ego, t)
        ref = self._to_global(np.zeros((1, 3)), np.array([t_ref]))[0]
        a_ref = (t_ref - self.t0) / (self.t1 - self.t0)
        # rows of eye(3) rotated = Rot^T, so rt = Rot^T R0^T = R_ref^T; rows (g - c) @ R_ref = R_ref^T (g - c)
        rt = _rodrigues(np.eye(3), self._axis, np.full(3, a_ref * self._angle)) @ self.pose0.rotation.T
        return (g - ref) @ rt.T


def deskew(
    xyz: np.ndarray,
    time_offset: np.ndarray,
    motion: EgoMotion,
    t_ref: float = 0.0,
    ego_from_sensor: Transform | None = None,
) -> np.ndarray:
    """Move points measured at ``time_offset`` (s) into the sensor frame at ``t_ref`` (s, same clock).

    Args:
        xyz: (N, 3) points in the sensor frame at their own times (metres).
        time_offset: (N,) measurement times (s), e.g. :attr:`LidarScan.time_offset`.
        motion: the ego-motion model (:class:`TwistMotion` or :class:`PoseMotion`).
        t_ref: reference time (s); 0 = the message stamp.
        ego_from_sensor: the sensor's mounting (identity when the model is given in the sensor frame).

    Returns:
        (N, 3) points in the sensor frame at ``t_ref``, same dtype as ``xyz``.
    """
    p = np.asarray(xyz, np.float64)[:, :3]
    t = np.asarray(time_offset, np.float64).reshape(-1)
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"deskew: {p.shape[0]} points but {t.shape[0]} times")
    mount = ego_from_sensor or Transform.identity()
    moved = motion.apply(mount.apply(p), t, float(t_ref))
    return mount.inverse().apply(moved).astype(np.asarray(xyz).dtype, copy=False)
