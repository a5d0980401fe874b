"""Deskewing: a straight wall seen by a spinning LiDAR on a moving car is sheared, and straight again after."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.sources.deskew import PoseMotion, TwistMotion, deskew

SWEEP_S = 0.1
WALL_X = 20.0


def _ego_path(v: tuple[float, float], w: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ego heading and position at times ``t`` for a constant body twist, by fine numerical integration
    (independent of the closed form in TwistMotion)."""
    grid = np.linspace(0.0, SWEEP_S, 20001)
    head = w * grid
    vel = np.stack([np.cos(head) * v[0] - np.sin(head) * v[1], np.sin(head) * v[0] + np.cos(head) * v[1]], 1)
    dt = grid[1] - grid[0]
    pos = np.concatenate([[[0.0, 0.0]], np.cumsum((vel[1:] + vel[:-1]) / 2 * dt, axis=0)])
    return np.interp(t, grid, head), np.stack(
        [np.interp(t, grid, pos[:, 0]), np.interp(t, grid, pos[:, 1])], 1
    )


def _sweep(v: tuple[float, float], w: float, mount: Transform) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the wall x = WALL_X (ego frame at t=0) from a sensor spinning once in SWEEP_S.

    Returns the points in the sensor frame at their own times (N, 3) and the times (N,).
    """
    n = 7200
    t = np.arange(n) / n * SWEEP_S
    az = 2 * np.pi * np.arange(n) / n - np.pi  # sensor azimuth, one turn
    head, pos = _ego_path(v, w, t)
    mount_yaw = np.arctan2(mount.rotation[1, 0], mount.rotation[0, 0])
    ang = head + mount_yaw + az  # ray direction in the t=0 ego frame
    origin = pos + np.stack([np.cos(head) * mount.translation[0] - np.sin(head) * mount.translation[1],
                             np.sin(head) * mount.translation[0] + np.cos(head) * mount.translation[1]], 1)  # fmt: skip
    with np.errstate(divide="ignore"):
        r = (WALL_X - origin[:, 0]) / np.cos(ang)
    hit = (np.cos(ang) > 0.3) & (r < 80)
    r, az, t = r[hit], az[hit], t[hit]
    pts = np.stack([r * np.cos(az), r * np.sin(az), np.full_like(r, 0.5)], 1)
    return pts, t


def _wall_x(points_sensor_t0: np.ndarray, mount: Transform) -> np.ndarray:
    """x of the points in the ego frame at t = 0."""
    return mount.apply(points_sensor_t0)[:, 0]


def test_straight_drive_shear_then_straight() -> None:
    """Driving at 15 m/s toward the wall: raw x = 20 - 15 t (0.6 m of shear over the 40 ms the wall is in
    view); deskewed x = 20."""
    mount = Transform.identity()
    pts, t = _sweep((15.0, 0.0), 0.0, mount)
    raw = _wall_x(pts, mount)
    np.testing.assert_allclose(raw, WALL_X - 15.0 * t, atol=1e-6)  # the expected shear
    assert raw.max() - raw.min() == pytest.approx(15.0 * (t.max() - t.min())) and raw.max() - raw.min() > 0.5
    fixed = deskew(pts, t, TwistMotion((15.0, 0.0, 0.0), 0.0))
    np.testing.assert_allclose(_wall_x(fixed, mount), WALL_X, atol=1e-6)
    np.testing.assert_allclose(fixed[:, 2], pts[:, 2])


@pytest.mark.parametrize("mounted", [False, True])
def test_turning_drive_twist_model(mounted: bool) -> None:
    """Driving an arc (12 m/s, 0.8 rad/s) with the sensor mounted off-centre and rotated: deskewed wall is
    straight to 1 mm; before, it is off by decimetres."""
    mount = Transform.from_quat(yaw_to_quat(np.pi / 2), [1.2, 0.3, 1.8]) if mounted else Transform.identity()
    pts, t = _sweep((12.0, 0.0), 0.8, mount)
    raw_err = np.abs(_wall_x(pts, mount) - WALL_X).max()
    fixed = deskew(pts, t, TwistMotion((12.0, 0.0, 0.0), 0.8), ego_from_sensor=mount)
    assert raw_err > 0.5
    np.testing.assert_allclose(_wall_x(fixed, mount), WALL_X, atol=1e-3)


def test_pose_model_matches() -> None:
    """Two poses (start and end of the sweep): exact for straight driving and for a turn in place; a chord
    instead of the arc costs < 1 cm at 12 m/s and 0.8 rad/s."""
    for v, w, tol in (((15.0, 0.0), 0.0, 1e-6), ((0.0, 0.0), 2.0, 1e-6), ((12.0, 0.0), 0.8, 1e-2)):
        pts, t = _sweep(v, w, Transform.identity())
        head, pos = _ego_path(v, w, np.array([0.0, SWEEP_S]))
        p0 = Transform.from_quat(yaw_to_quat(head[0]), [*pos[0], 0.0])
        p1 = Transform.from_quat(yaw_to_quat(head[1]), [*pos[1], 0.0])
        fixed = deskew(pts, t, PoseMotion(p0, 0.0, p1, SWEEP_S))
        np.testing.assert_allclose(fixed[:, 0], WALL_X, atol=tol)


def test_reference_time_and_no_motion() -> None:
    """No motion leaves points unchanged; t_ref at the sweep end maps the t=0 wall by the ego motion."""
    pts, t = _sweep((15.0, 0.0), 0.0, Transform.identity())
    np.testing.assert_allclose(deskew(pts, t, TwistMotion((0.0, 0.0, 0.0), 0.0)), pts, atol=1e-12)
    end = deskew(pts, t, TwistMotion((15.0, 0.0, 0.0), 0.0), t_ref=SWEEP_S)
    np.testing.assert_allclose(end[:, 0], WALL_X - 15.0 * SWEEP_S, atol=1e-6)
    with pytest.raises(ValueError, match="times"):
        deskew(pts, t[:-1], TwistMotion((1.0, 0.0, 0.0), 0.0))
