"""Radar corruptions: dropped returns, velocity noise, ghost (multipath) targets, and the whole radar missing.

No published suite covers automotive radar for detection; these follow the LiDAR ones in kind (point loss as
Dong et al.'s density decrease, CVPR 2023; noise on a measured quantity) and the multipath ghosts described
for automotive radar (e.g. Kraus et al., "Using Machine Learning to Detect Ghost Images in Automotive Radar",
ITSC 2020: a reflection off a wall or the road shows a target farther away along a similar bearing). The
severity parameters are set here (``docs/robustness.md``).
"""

from __future__ import annotations

import numpy as np

from sensorfuse.classes import RADARS
from sensorfuse.corrupt.common import level, mark_missing, with_radar
from sensorfuse.structures import SensorSample

#: share of the radar returns lost
DROPPED_SHARE = (0.25, 0.5, 0.75)
#: std (m/s) of the Gaussian noise on each compensated velocity component
VELOCITY_STD = (0.5, 1.0, 2.0)
#: ghost returns added, as a share of the real returns
GHOST_SHARE = (0.1, 0.25, 0.5)
#: range factor of a ghost (double bounce: 1.5-2x the real target's range) and its RCS loss (dB)
GHOST_RANGE = (1.5, 2.0)
GHOST_RCS_LOSS_DB = 10.0


def dropped_returns(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """A random share of the radar returns is lost. Severity 1/2/3: 25%, 50%, 75%."""
    share = level(DROPPED_SHARE, severity, "radar_dropped_returns")
    if sample.radar is None:
        return sample
    pts = sample.radar.points
    return with_radar(sample, pts[rng.random(len(pts)) >= share])


def velocity_noise(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Gaussian noise on ``vx_comp, vy_comp`` of every return. Severity 1/2/3: std 0.5, 1.0, 2.0 m/s."""
    std = level(VELOCITY_STD, severity, "radar_velocity_noise")
    if sample.radar is None:
        return sample
    pts = sample.radar.points.copy()
    pts[:, 3:5] += rng.normal(0.0, std, (len(pts), 2)).astype(np.float32)
    return with_radar(sample, pts)


def ghost_targets(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Multipath ghosts: copies of random real returns at 1.5-2x their range along the same bearing, same
    velocity, RCS 10 dB lower. Severity 1/2/3: 10%, 25%, 50% as many ghosts as real returns."""
    share = level(GHOST_SHARE, severity, "radar_ghost_targets")
    if sample.radar is None or len(sample.radar) == 0:
        return sample
    pts = sample.radar.points
    n = round(share * len(pts))
    ghosts = pts[rng.integers(0, len(pts), n)].copy()
    ghosts[:, :2] *= rng.uniform(*GHOST_RANGE, (n, 1)).astype(np.float32)
    ghosts[:, 5] -= GHOST_RCS_LOSS_DB
    return with_radar(sample, np.concatenate([pts, ghosts]))


def radar_missing(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Every radar missing: one level; recorded as intended."""
    level((1,), severity, "radar_missing")
    return mark_missing(sample.without("radar"), RADARS, "radar_missing (corruption)")
