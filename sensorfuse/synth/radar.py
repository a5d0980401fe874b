"""ARS-408-like radar simulation: sparse returns on actors plus clutter, in the radar frame.

Field of view: near scan +-60 deg to 70 m and far scan +-9 deg to 200 m (x forward, y left, z = 0 like the
real files). Returns on actors scale with size and class (metal vehicles return more, pedestrians few);
RCS by class. A return is kept only where the actor is in line of sight: the ray from the radar towards a
random point of the actor is cast against every actor (the LiDAR's ray caster) and the return sits where
it first hits, on the actor's visible surface; an occluded actor returns nothing. Positions carry
``POSITION_NOISE`` m of Gaussian noise before the sensor's 0.2 m quantisation. Velocities are radial
projections, as the real sensor reports them: ``(vx, vy)`` = the relative radial velocity,
``(vx_comp, vy_comp)`` = the ego-motion-compensated one, both expressed along the line of sight in the radar
frame. ``dyn_prop`` / ``ambig_state`` / ``invalid_state`` are drawn so the devkit's default filters keep about
half of the points, like on real data.
"""

from __future__ import annotations

import numpy as np

from sensorfuse.geometry import Transform
from sensorfuse.io.radar_pcd import RADAR_FIELDS
from sensorfuse.synth.lidar import raycast

NEAR_FOV, NEAR_RANGE = np.deg2rad(60.0), 70.0
FAR_FOV, FAR_RANGE = np.deg2rad(9.0), 200.0
# (mean returns per actor, mean RCS dBsm) per category prefix
RETURNS = {
    "vehicle": (3.0, 10.0),
    "human": (0.6, -2.0),
    "movable_object": (0.5, 2.0),
    "static_object": (1.0, 6.0),
}
DEFAULT_RETURNS = (0.3, -3.0)
POSITION_NOISE = 0.15
COL = {name: i for i, name in enumerate(RADAR_FIELDS)}


def _in_fov(p: np.ndarray) -> np.ndarray:
    r = np.hypot(p[:, 0], p[:, 1])
    az = np.abs(np.arctan2(p[:, 1], p[:, 0]))
    return (r > 0.8) & (((az < NEAR_FOV) & (r < NEAR_RANGE)) | ((az < FAR_FOV) & (r < FAR_RANGE)))


def _actor_returns(
    boxes: np.ndarray, categories: list[str], global_from_radar: Transform, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return positions (K, 3) global, absolute velocity (K, 3) global and RCS (K,) of visible actor returns."""
    radar_from_global = global_from_radar.inverse()
    centres = radar_from_global.apply(boxes[:, :3])
    actor, targets = [], []
    for i in np.flatnonzero(_in_fov(centres)):
        mean, _ = RETURNS.get(categories[i].split(".")[0], DEFAULT_RETURNS)
        n = rng.poisson(mean * max(1.0, boxes[i, 3] * boxes[i, 5] / 8.0))
        if n == 0:
            continue
        c, s = np.cos(boxes[i, 6]), np.sin(boxes[i, 6])
        local = rng.uniform(-0.45, 0.45, (n, 2)) * boxes[i, 3:5]
        xy = boxes[i, :2] + local @ np.array([[c, s], [-s, c]])
        actor.append(np.full(n, i))
        targets.append(np.concatenate([xy, np.full((n, 1), boxes[i, 2])], axis=1))
    if not actor:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)
    ids, target = np.concatenate(actor), np.concatenate(targets)
    # aim at the actor's height band nearest the sensor's height, so the ray is near-horizontal
    half_h = np.maximum(boxes[ids, 5] / 2 - 0.05, 0.0)
    origin = global_from_radar.translation
    target[:, 2] = np.clip(origin[2], boxes[ids, 2] - half_h, boxes[ids, 2] + half_h)
    ray = target - origin
    dist = np.linalg.norm(ray, axis=1)
    dirs = (ray / np.maximum(dist, 1e-9)[:, None])[:, None, :]
    b = np.ascontiguousarray(boxes[:, :7], dtype=np.float64)
    rng_hit, hit, _ = raycast(np.tile(origin, (len(ids), 1)), dirs, b, float(dist.max()) + 1.0)
    visible = hit[:, 0] == ids
    ids = ids[visible]
    pos = origin + dirs[visible, 0] * rng_hit[visible, 0][:, None]
    rcs0 = np.array([RETURNS.get(categories[i].split(".")[0], DEFAULT_RETURNS)[1] for i in ids])
    vel = np.concatenate([boxes[ids, 7:9], np.zeros((len(ids), 1))], axis=1)
    return pos, vel, rcs0 + rng.normal(0, 3.0, len(ids))


def simulate_radar(
    boxes: np.ndarray,
    categories: list[str],
    global_from_radar: Transform,
    ego_velocity: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One radar sweep: points (N >= 1, 18) in :data:`RADAR_FIELDS` order, radar frame.

    Args:
        boxes: (M, 9) global actor boxes (x, y, z, l, w, h, yaw, vx, vy) at the sweep time.
        global_from_radar: the radar pose at the sweep time; ego_velocity: (3,) global.
    """
    radar_from_global = global_from_radar.inverse()
    pos_g, vel_g, rcs = _actor_returns(boxes, categories, global_from_radar, rng)
    n_clutter = int(rng.integers(8, 30))
    r = rng.uniform(3.0, 65.0, n_clutter)
    az = rng.uniform(-NEAR_FOV, NEAR_FOV, n_clutter)
    clutter = np.stack([r * np.cos(az), r * np.sin(az), np.zeros(n_clutter)], axis=1)
    p = np.concatenate([radar_from_global.apply(pos_g), clutter]) if len(pos_g) else clutter
    p[:, :2] += rng.normal(0.0, POSITION_NOISE, (len(p), 2))
    p[:, 2] = 0.0
    v_abs = np.concatenate([radar_from_global.rotate(vel_g), np.zeros((n_clutter, 3))])
    v_sensor = radar_from_global.rotate(ego_velocity[None])[0]
    is_actor = np.arange(len(p)) < len(pos_g)
    keep = _in_fov(p)
    p, v_abs, is_actor = p[keep], v_abs[keep], is_actor[keep]
    rcs_all = np.concatenate([rcs, rng.normal(-2.0, 4.0, n_clutter)])[keep]
    p[:, :2] = np.round(p[:, :2] / 0.2) * 0.2
    u = p[:, :2] / np.maximum(np.linalg.norm(p[:, :2], axis=1, keepdims=True), 1e-6)
    v_comp = np.sum(v_abs[:, :2] * u, axis=1) + rng.normal(0, 0.1, len(p))
    v_raw = v_comp - np.sum(v_sensor[:2] * u, axis=1)
    return _fill(p, u, v_raw, v_comp, np.round(rcs_all * 2) / 2, is_actor, rng)


def _fill(
    p: np.ndarray,
    u: np.ndarray,
    v_raw: np.ndarray,
    v_comp: np.ndarray,
    rcs: np.ndarray,
    is_actor: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(p)
    out = np.zeros((max(n, 1), len(RADAR_FIELDS)))
    if n == 0:  # the devkit needs WIDTH >= 1: one invalid far point
        out[0, [COL["x"], COL["invalid_state"], COL["dyn_prop"], COL["ambig_state"]]] = [100.0, 1, 1, 3]
        return out
    out[:, 0:3] = p
    moving = np.abs(v_comp) > 0.5
    out[:, COL["dyn_prop"]] = np.where(
        moving, np.where(v_comp > 0, 0, 2), rng.choice([1, 3, 5, 7], n, p=[0.7, 0.15, 0.05, 0.1])
    )
    out[moving & (rng.random(n) < 0.1), COL["dyn_prop"]] = 6
    out[:, COL["id"]] = np.arange(n)
    out[:, COL["rcs"]] = np.clip(rcs, -5.0, 52.5)
    out[:, COL["vx"]], out[:, COL["vy"]] = v_raw * u[:, 0], v_raw * u[:, 1]
    out[:, COL["vx_comp"]], out[:, COL["vy_comp"]] = v_comp * u[:, 0], v_comp * u[:, 1]
    out[:, COL["is_quality_valid"]] = 1
    good = np.where(is_actor, 0.85, 0.5)
    out[:, COL["ambig_state"]] = np.where(rng.random(n) < good, 3, rng.choice([1, 2, 4], n))
    out[:, COL["invalid_state"]] = np.where(
        rng.random(n) < np.where(is_actor, 0.85, 0.7), 0, rng.choice([1, 2, 4, 8, 16, 17], n)
    )
    out[:, COL["x_rms"]] = rng.integers(19, 30, n)
    out[:, COL["y_rms"]] = rng.integers(19, 30, n)
    out[:, COL["pdh0"]] = rng.choice([1, 3, 6], n, p=[0.8, 0.1, 0.1])
    out[:, COL["vx_rms"]] = rng.integers(19, 30, n)
    out[:, COL["vy_rms"]] = rng.integers(19, 30, n)
    return out
