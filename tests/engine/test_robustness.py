"""Robustness scenarios: sensor subsets, LiDAR beam thinning, a hidden camera, a stale LiDAR."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.engine.evaluate import scenarios_for
from sensorfuse.engine.robustness import (
    HDL32_LOWEST_DEG,
    HDL32_SPACING_DEG,
    default_matrix,
    hide_camera,
    parse_sensors,
    restrict,
    ring_of,
    stale_lidar,
    thin_beams,
)
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import Transform
from sensorfuse.structures import CameraSet, PointCloud, RadarPoints, SampleMeta, SensorSample


def _sample(token: str = "s1", t_us: int = 1_000_000, x_offset: float = 0.0) -> SensorSample:
    rings = np.arange(32)
    elev = np.radians(HDL32_LOWEST_DEG + HDL32_SPACING_DEG * rings)
    pts = np.zeros((32, 5), np.float32)
    pts[:, 1] = 10.0 * np.cos(elev)
    pts[:, 2] = 10.0 * np.sin(elev)
    g = Transform.from_rt(np.eye(3), [x_offset, 0.0, 0.0]).matrix
    meta = SampleMeta(token, "scene-0103", t_us, g, np.eye(4))
    cams = CameraSet(
        ("CAM_FRONT", "CAM_BACK"),
        np.zeros((2, 8, 8, 3), np.uint8),
        np.tile(np.eye(3), (2, 1, 1)),
        np.tile(np.eye(4), (2, 1, 1)),
        np.ones(2, bool),
    )
    return SensorSample(meta, PointCloud(pts), RadarPoints(np.zeros((3, 7), np.float32)), cams)


def test_ring_binning_and_thinning() -> None:
    s = _sample()
    assert ring_of(s.lidar.points).tolist() == list(range(32))
    assert len(thin_beams(s, 2).lidar) == 16 and len(thin_beams(s, 4).lidar) == 8


def test_restrict_and_hide_camera() -> None:
    s = restrict(_sample(), ("lidar",))
    assert s.cameras is None and s.radar is None and s.lidar is not None
    assert set(s.meta.missing) == {"camera", "radar"}
    h = hide_camera(_sample(), "CAM_FRONT")
    assert h.cameras.present.tolist() == [False, True] and "CAM_FRONT" in h.meta.missing


def test_stale_lidar_moves_old_points_into_the_current_frame() -> None:
    old = _sample("s0", 500_000, x_offset=0.0)
    cur = _sample("s1", 1_000_000, x_offset=2.0)  # the ego moved 2 m along +x
    out = stale_lidar(cur, lambda tok: old if tok == "s0" else cur, "s0")
    np.testing.assert_allclose(out.lidar.points[:, 0], old.lidar.points[:, 0] - 2.0, atol=1e-5)
    np.testing.assert_allclose(out.lidar.points[:, 4], 0.5, atol=1e-6)
    assert (
        "LIDAR_TOP" not in out.meta.missing
    )  # present (stale), not a drop: the submission says lidar is used
    first = stale_lidar(cur, lambda tok: old, None)
    assert first.lidar is None and "LIDAR_TOP" in first.meta.missing


def test_parse_sensors_and_matrix() -> None:
    assert parse_sensors("radar, lidar") == ("lidar", "radar")
    with pytest.raises(ConfigError, match="subset of"):
        parse_sensors("lidar,sonar")
    names = [s.name for s in default_matrix(("lidar", "camera", "radar"))]
    assert names[:7] == [
        "lidar+camera+radar",
        "lidar+camera",
        "lidar+radar",
        "camera+radar",
        "lidar",
        "camera",
        "radar",
    ]
    assert {"lidar_beams_1/4", "no_CAM_FRONT", "no_RADAR_FRONT", "stale_lidar_0.5s"} <= set(names)
    rows = scenarios_for(("lidar", "camera"), None, robustness=True)
    assert rows[0].name == "lidar+camera" and len({r.name for r in rows}) == len(rows)
    with pytest.raises(ConfigError, match="no \\['radar'\\] encoder"):
        scenarios_for(("lidar",), ("lidar", "radar"), robustness=False)
