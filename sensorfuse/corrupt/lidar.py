"""LiDAR corruptions as in Robo3D (Kong et al., "Robo3D: Towards Robust and Reliable 3D Perception against
Corruptions", ICCV 2023; nuScenes-C generation scripts ``create/nuscenes_c/*``), three severities each
(light, moderate, heavy).

Rings are binned by elevation like an HDL-32E (the merged multi-sweep cloud carries no ring index). The
weather models (fog, snow, wet ground) are simplified versions of the physics models Robo3D uses (Hahner et
al., ICCV 2021 / CVPR 2022), which need per-sensor lookup tables and pre-sampled snowflakes; what each keeps and
drops is stated in its docstring and in ``docs/robustness.md``. Severity parameters marked "Robo3D" are the
nuScenes-C values; where the public scripts state only the light level, moderate/heavy follow the ratios of
their KITTI-C levels (stated per constant).
"""

from __future__ import annotations

import numpy as np

from sensorfuse.boxes import points_in_boxes
from sensorfuse.classes import CLASS_INDEX
from sensorfuse.corrupt.common import height_above_ground, level, ring_of, with_lidar
from sensorfuse.errors import DataError
from sensorfuse.structures import SensorSample

#: fog extinction coefficient beta (1/m): Robo3D nuScenes-C light/moderate/heavy (0.008, 0.05, 0.2)
FOG_BETA = (0.008, 0.05, 0.2)
#: water film on the ground (mm): light 0.2 mm is Robo3D's nuScenes-C value; moderate/heavy chosen here
WET_GROUND_WATER_MM = (0.2, 0.6, 1.2)
#: snowfall rate (mm/h water equivalent) at a terminal velocity of 2 m/s: Robo3D's three snowflake sets
#: (occupancies 6.94e-7, 1.74e-6, 4.34e-6)
SNOWFALL_MM_H = (0.5, 1.25, 3.125)
#: motion-blur jitter std (m): light 0.2 (Robo3D nuScenes-C); moderate/heavy by the KITTI-C ratios 2x, 2.5x
MOTION_STD_M = (0.2, 0.4, 0.5)
#: rings lost of 32 (Robo3D: 8, 16, 24), drawn among rings 2..28
BEAMS_LOST = (8, 16, 24)
#: share of points hit by crosstalk: light 0.03 (Robo3D nuScenes-C); moderate/heavy by the KITTI-C ratios
CROSSTALK_SHARE = (0.03, 0.04, 0.05)
#: share of the points of vehicle objects lost to incomplete echoes (Robo3D: 0.75, 0.85, 0.95)
INCOMPLETE_ECHO_DROP = (0.75, 0.85, 0.95)
#: rings of a 32-beam sensor kept by a sensor with fewer beams (Robo3D cross-sensor drops 8, 16, 24 rings)
CROSS_SENSOR_DROPPED = (
    tuple(range(1, 32, 4)),
    tuple(range(1, 32, 2)),
    tuple(int(x) for x in np.arange(1, 32, 1.33)),
)

NOISE_FLOOR = 1.0  # weakest return (intensity units, 0-255 scale) the sensor registers
SNOW_REPLACE_PER_M = 3920.0  # snowflake echoes per metre of beam and unit occupancy (see snow())
SNOW_NEAR_M = 15.0  # snowflake echoes beat the target's only this close to the sensor
SNOW_FLAKE_M = 1e-3  # flake diameter (m) for the extinction 1.5 * occupancy / diameter of the other returns
WET_FILM_MM = 1.0  # water depth over which the diffuse ground return falls by e at normal incidence
WET_NOISE_FLOOR = 0.2  # share of its dry intensity under which a wet-ground return is lost (Robo3D)
GROUND_BAND_M = 0.3  # points within this height of the ego ground plane are ground
VEHICLES = ("bicycle", "bus", "car", "construction_vehicle", "motorcycle", "trailer", "truck")


def _range(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, :3].astype(np.float64), axis=1)


def fog(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Fog: returns attenuated by ``exp(-2 beta R)``; one under the noise floor is lost, or, when the pulse was
    scattered by the fog first (probability ``1 - exp(-2 beta R)``), replaced by a weak echo along the same ray,
    at the distance where it was scattered (exponential with rate ``2 beta``, truncated to the target's range).

    Reference: Robo3D fog (Hahner et al., "Fog Simulation on Real LiDAR Point Clouds", ICCV 2021). Severity
    1/2/3: beta = 0.008, 0.05, 0.2 /m. Simplified: no pulse integral lookup tables, no intensity model of the
    fog echo (drawn between 1 and 4 times the noise floor).
    """
    beta = level(FOG_BETA, severity, "lidar_fog")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points.copy()
    r = _range(pts)
    loss = 1.0 - np.exp(-2.0 * beta * r)
    pts[:, 3] = pts[:, 3] * (1.0 - loss)
    lost = pts[:, 3] < NOISE_FLOOR
    scattered = lost & (rng.random(len(pts)) < loss)
    # where along the ray the pulse met the fog: exponential with rate 2 beta, truncated to (0, R)
    r_fog = -np.log1p(-rng.random(len(pts)) * loss) / (2.0 * beta)
    scale = np.where(scattered, r_fog / np.maximum(r, 1e-6), 1.0)
    pts[:, :3] *= scale[:, None].astype(np.float32)
    pts[scattered, 3] = rng.uniform(NOISE_FLOOR, 4 * NOISE_FLOOR, int(scattered.sum()))
    return with_lidar(sample, pts[~lost | scattered])


def wet_ground(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Wet ground: a water film mirrors part of each ground return away, more at grazing incidence.

    Ground points (within 0.3 m of the ego ground plane) keep ``exp(-d / (1 mm * cos(incidence)))`` of their
    intensity; below 0.2 of the dry intensity (Robo3D's noise floor) they are lost.

    Reference: Robo3D wet ground (Hahner et al., "LiDAR Snowfall Simulation", CVPR 2022, ground water
    augmentation). Severity 1/2/3: film 0.2 (Robo3D), 0.6, 1.2 mm. Simplified: a reflectance law of our own
    instead of the paper's specular / diffuse model with an estimated laser power. Deterministic.
    """
    depth = level(WET_GROUND_WATER_MM, severity, "lidar_wet_ground")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points.copy()
    ground = np.abs(height_above_ground(sample, pts)) < GROUND_BAND_M
    sensor_h = max(float(height_above_ground(sample, np.zeros((1, 3)))[0]), 0.1)
    cos_inc = np.clip(sensor_h / np.maximum(_range(pts), 1e-6), 1e-3, 1.0)
    keep = np.exp(-depth / (WET_FILM_MM * cos_inc))
    pts[ground, 3] = pts[ground, 3] * keep[ground]
    lost = ground & (keep < WET_NOISE_FLOOR)
    return with_lidar(sample, pts[~lost])


def snow_occupancy(snowfall_mm_h: float, terminal_velocity: float = 2.0, density: float = 0.1) -> float:
    """Volume share of the air filled by snow (Hahner et al. 2022, ``compute_occupancy``; density g/cm³)."""
    return snowfall_mm_h / (3.6e6 * density * terminal_velocity)


def snow(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Snow: a return is replaced by a snowflake echo with probability ``1 - exp(-k * occupancy * min(R, 15 m))``
    (the flake lies on the same ray, uniformly between 1 m and ``min(R, 15 m)``, intensity 90% of the cloud's
    95th percentile times a random share); the other returns are attenuated by the snow's extinction.

    Reference: Robo3D snow (Hahner et al., "LiDAR Snowfall Simulation for Robust 3D Object Detection", CVPR
    2022). Severity 1/2/3: snowfall 0.5, 1.25, 3.125 mm/h at 2 m/s (Robo3D's snowflake sets). Simplified: no
    sampled flake geometry per beam; ``k`` is set so that light snow replaces 4% of the returns beyond 15 m.
    """
    occupancy = snow_occupancy(level(SNOWFALL_MM_H, severity, "lidar_snow"))
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points.copy()
    r = _range(pts)
    near = np.minimum(r, SNOW_NEAR_M)
    hit = rng.random(len(pts)) < 1.0 - np.exp(-SNOW_REPLACE_PER_M * occupancy * near)
    r_flake = rng.uniform(1.0, np.maximum(near, 1.0))
    scale = np.where(hit, r_flake / np.maximum(r, 1e-6), 1.0)
    pts[:, :3] *= scale[:, None].astype(np.float32)
    bright = float(np.percentile(pts[:, 3], 95)) if len(pts) else 0.0
    pts[hit, 3] = 0.9 * bright * rng.random(int(hit.sum()))
    extinction = 1.5 * occupancy / SNOW_FLAKE_M
    pts[~hit, 3] *= np.exp(-2.0 * extinction * r[~hit]).astype(np.float32)
    return with_lidar(sample, pts)


def motion_blur(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Motion blur: one global translation N(0, s) and a per-point jitter N(0, 0.1 s) (z: 0.05 s), clipped
    at ±3 s.

    Reference: Robo3D motion blur (``gen_motion.py``). Severity 1/2/3: s = 0.2 (Robo3D nuScenes-C), 0.4, 0.5 m.
    """
    s = level(MOTION_STD_M, severity, "lidar_motion_blur")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points.copy()
    n = len(pts)
    shift = rng.normal(0.0, s, 3)
    jitter = np.stack(
        [
            np.clip(rng.normal(0.0, s * 0.1, n), -3 * s, 3 * s),
            np.clip(rng.normal(0.0, s * 0.1, n), -3 * s, 3 * s),
            np.clip(rng.normal(0.0, s * 0.05, n), -3 * s, 3 * s),
        ],
        axis=1,
    )
    pts[:, :3] += (shift + jitter).astype(np.float32)
    return with_lidar(sample, pts)


def beam_missing(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Beam missing: the points of k random rings (of rings 2..28) are lost.

    Reference: Robo3D beam missing. Severity 1/2/3: 8, 16, 24 rings of 32. Robo3D draws the rings with
    replacement (so fewer distinct rings); here without.
    """
    k = level(BEAMS_LOST, severity, "lidar_beam_missing")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points
    lost = rng.choice(np.arange(2, 29), size=k, replace=False)
    return with_lidar(sample, pts[~np.isin(ring_of(pts), lost)])


def crosstalk(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Crosstalk: a share of the points gets N(0, 3) added to x, y, z and intensity (clipped to 0-255).

    Reference: Robo3D crosstalk. Severity 1/2/3: 3% (Robo3D nuScenes-C), 4%, 5% of the points.
    """
    share = level(CROSSTALK_SHARE, severity, "lidar_crosstalk")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points.copy()
    idx = rng.choice(len(pts), size=int(share * len(pts)), replace=False)
    pts[idx, :4] += (rng.normal(size=(len(idx), 4)) * 3.0).astype(np.float32)
    pts[:, 3] = np.clip(pts[:, 3], 0, 255)
    return with_lidar(sample, pts)


def incomplete_echo(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Incomplete echo: dark vehicle paint returns too little light; per vehicle class, a share of the points
    inside that class's boxes is lost.

    Reference: Robo3D incomplete echo (classes bicycle, bus, car, construction vehicle, motorcycle, trailer,
    truck; Robo3D finds them by the lidarseg labels, here by the ground-truth boxes). Severity 1/2/3: 75%,
    85%, 95% of those points.

    Raises:
        DataError: the sample has no ground-truth boxes.
    """
    share = level(INCOMPLETE_ECHO_DROP, severity, "lidar_incomplete_echo")
    if sample.gt is None:
        raise DataError(sample.meta.sample_token, "lidar_incomplete_echo needs the ground-truth boxes", "gt")
    if sample.lidar is None or len(sample.gt) == 0:
        return sample
    pts = sample.lidar.points
    keep = np.ones(len(pts), bool)
    for name in VEHICLES:
        boxes = sample.gt.boxes[sample.gt.labels == CLASS_INDEX[name]]
        if len(boxes) == 0:
            continue
        idx = np.flatnonzero(points_in_boxes(pts, boxes).any(axis=0))
        if len(idx):
            keep[rng.choice(idx, size=int(len(idx) * share), replace=False)] = False
    return with_lidar(sample, pts[keep])


def cross_sensor(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Cross-sensor: the cloud of a sensor with fewer beams: fixed rings are dropped, then every other point.

    Reference: Robo3D cross-sensor. Severity 1/2/3: 8, 16, 24 of 32 rings dropped (1, 5, 9, ... / every
    other / three of four), then half the points. Deterministic (the rng is not used).
    """
    dropped = level(CROSS_SENSOR_DROPPED, severity, "lidar_cross_sensor")
    if sample.lidar is None:
        return sample
    pts = sample.lidar.points
    kept = pts[~np.isin(ring_of(pts), dropped)]
    return with_lidar(sample, kept[::2])
