"""The world of one scene: a curvy road, the ego's trajectory, and actors with class-typical motion.

Everything is in the ``global`` frame (z up, ground at z = 0). Positions along the road are given as
``(s, d)``: arclength ``s`` along the centreline and lateral offset ``d`` (positive = left of the driving
direction). Lanes: same direction d = -1.75 (ego) and -5.25, oncoming +1.75 and +5.25, road edge |d| = 7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# nuScenes mean box sizes (l, w, h) per category, metres
SIZES: dict[str, tuple[float, float, float]] = {
    "vehicle.car": (4.62, 1.95, 1.73),
    "vehicle.truck": (6.93, 2.51, 2.84),
    "vehicle.bus.rigid": (10.5, 2.94, 3.47),
    "vehicle.trailer": (12.29, 2.90, 3.87),
    "vehicle.construction": (6.56, 2.82, 3.20),
    "human.pedestrian.adult": (0.73, 0.67, 1.77),
    "vehicle.motorcycle": (2.11, 0.77, 1.47),
    "vehicle.bicycle": (1.70, 0.60, 1.28),
    "movable_object.trafficcone": (0.41, 0.41, 1.07),
    "movable_object.barrier": (0.50, 2.53, 0.98),
    "animal": (0.90, 0.35, 0.60),
    "movable_object.pushable_pullable": (0.70, 0.60, 1.05),
    "static_object.bicycle_rack": (5.0, 1.2, 1.1),
}
# motion kinds
STATIC, LANE, ESCORT, CROSS = 0, 1, 2, 3


@dataclass(frozen=True)
class Road:
    """Centreline sampled every ``ds`` metres from ``s0``: xy (K, 2), heading (K,)."""

    s0: float
    ds: float
    xy: np.ndarray
    heading: np.ndarray

    def at(self, s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global xy (N, 2) and road heading (N,) at arclength ``s`` and lateral offset ``d``."""
        s = np.asarray(s, dtype=np.float64)
        u = np.clip((s - self.s0) / self.ds, 0, len(self.heading) - 1.001)
        i = np.floor(u).astype(np.int64)
        f = u - i
        xy = self.xy[i] * (1 - f)[..., None] + self.xy[i + 1] * f[..., None]
        h = self.heading[i] + f * (self.heading[i + 1] - self.heading[i])
        normal = np.stack([-np.sin(h), np.cos(h)], axis=-1)
        return xy + normal * np.asarray(d, dtype=np.float64)[..., None], h


def make_road(rng: np.random.Generator, origin: np.ndarray, length: float = 1200.0) -> Road:
    ds, s0 = 0.5, -300.0
    s = np.arange(s0, s0 + length, ds)
    k1, k2 = rng.uniform(0.004, 0.012), rng.uniform(0.002, 0.008)
    l1, l2 = rng.uniform(120, 260), rng.uniform(60, 140)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    curvature = k1 * np.sin(2 * np.pi * s / l1 + p1) + k2 * np.sin(2 * np.pi * s / l2 + p2)
    heading = rng.uniform(-np.pi, np.pi) + np.cumsum(curvature) * ds
    heading -= heading[int(-s0 / ds)] - rng.uniform(-np.pi, np.pi)
    step = np.stack([np.cos(heading), np.sin(heading)], axis=1) * ds
    xy = np.cumsum(step, axis=0)
    xy += origin - xy[int(-s0 / ds)]
    return Road(s0=s0, ds=ds, xy=xy, heading=heading)


@dataclass(frozen=True)
class Ego:
    """Ego trajectory: arclength on a fine time grid (seconds from the scene start)."""

    road: Road
    t: np.ndarray
    s: np.ndarray
    lane: float = -1.75

    def s_at(self, t: np.ndarray | float) -> np.ndarray:
        return np.interp(t, self.t, self.s)

    def pose(self, t: float) -> tuple[np.ndarray, float]:
        """Global translation (3,) of the ego (rear axle, on the ground) and yaw at time ``t``."""
        xy, h = self.road.at(np.array([self.s_at(t)]), np.array([self.lane]))
        return np.array([xy[0, 0], xy[0, 1], 0.0]), float(h[0])

    def velocity(self, t: float) -> np.ndarray:
        """Global velocity (3,) by a central difference."""
        a, _ = self.pose(t - 0.01)
        b, _ = self.pose(t + 0.01)
        return (b - a) / 0.02


def make_ego(rng: np.random.Generator, road: Road, seconds: float) -> Ego:
    t = np.arange(-1.0, seconds + 1.0, 0.001)
    v0, dv = rng.uniform(6.0, 10.0), rng.uniform(1.0, 3.0)
    period, phase = rng.uniform(4.0, 10.0), rng.uniform(0, 2 * np.pi)
    v = v0 + dv * np.sin(2 * np.pi * t / period + phase)
    s = np.cumsum(v) * 0.001
    s -= np.interp(0.0, t, s)
    return Ego(road=road, t=t, s=s)


@dataclass(frozen=True)
class Actors:
    """M actors: category names, sizes (M, 3) l,w,h, motion kind, road coordinates and rates."""

    category: list[str]
    size: np.ndarray
    kind: np.ndarray
    s0: np.ndarray  # STATIC/LANE/CROSS: arclength at t=0; ESCORT: gap to the ego
    d0: np.ndarray  # lateral offset at t=0
    speed: np.ndarray  # LANE: ds/dt (negative = oncoming); CROSS: dd/dt; else 0
    attribute: list[str]  # attribute name for non-moving actors ("" = decided by speed)

    def __len__(self) -> int:
        return len(self.category)

    def boxes(self, ego: Ego, t: float) -> np.ndarray:
        """Global boxes (M, 9) ``(x, y, z, l, w, h, yaw, vx, vy)`` at time ``t`` (sensorfuse convention)."""
        a = self._pos(ego, t - 0.01)
        b = self._pos(ego, t + 0.01)
        p = self._pos(ego, t)
        out = np.zeros((len(self), 9))
        out[:, :2] = p[:, :2]
        out[:, 2] = self.size[:, 2] / 2
        out[:, 3:6] = self.size
        out[:, 6] = p[:, 2]
        out[:, 7:9] = (b[:, :2] - a[:, :2]) / 0.02
        return out

    def _pos(self, ego: Ego, t: float) -> np.ndarray:
        s = self.s0.copy()
        d = self.d0.copy()
        lane = self.kind == LANE
        s[lane] += self.speed[lane] * t
        esc = self.kind == ESCORT
        s[esc] += ego.s_at(t)
        cross = self.kind == CROSS
        d[cross] += self.speed[cross] * t
        xy, h = ego.road.at(s, d)
        h = h + np.where(lane & (self.speed < 0), np.pi, 0.0)
        h = h + np.where(cross, np.sign(self.speed) * np.pi / 2, 0.0)
        return np.concatenate([xy, np.arctan2(np.sin(h), np.cos(h))[:, None]], axis=1)
