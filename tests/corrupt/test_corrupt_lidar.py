"""Robo3D LiDAR corruptions change what they say (class: corruption not doing what it states), with
severity monotonic where the paper's is."""

from __future__ import annotations

import numpy as np
import pytest
from corrupt_fixtures import SENSOR_HEIGHT

from sensorfuse.boxes import points_in_boxes
from sensorfuse.classes import CLASS_INDEX
from sensorfuse.corrupt import lidar
from sensorfuse.corrupt.common import ring_of
from sensorfuse.structures import SensorSample


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def pts(s: SensorSample) -> np.ndarray:
    assert s.lidar is not None
    return s.lidar.points


def match_in_order(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """For an output that keeps its input's order (a subset, points possibly moved along their ray): the
    input row of each output row."""
    unit = lambda p: p[:3] / np.linalg.norm(p[:3])  # noqa: E731
    idx, i = [], 0
    for q in after:
        while not np.allclose(unit(before[i]), unit(q), atol=1e-5):
            i += 1
        idx.append(i)
        i += 1
    return np.array(idx)


def test_fog_attenuates_loses_and_scatters_more_with_beta(sample: SensorSample) -> None:
    before = pts(sample)
    kept, scattered = [], []
    for sev, beta in enumerate(lidar.FOG_BETA, 1):
        after = pts(lidar.fog(sample, sev, rng()))
        src = before[match_in_order(before, after)]
        r_src, r_out = np.linalg.norm(src[:, :3], axis=1), np.linalg.norm(after[:, :3], axis=1)
        moved = ~np.isclose(r_out, r_src, rtol=1e-5)
        attenuated = src[:, 3] * np.exp(-2 * beta * r_src)
        np.testing.assert_allclose(after[~moved, 3], attenuated[~moved], rtol=1e-4)
        assert (after[~moved, 3] >= lidar.NOISE_FLOOR).all()
        assert (r_out[moved] <= r_src[moved] + 1e-4).all() and (attenuated[moved] < lidar.NOISE_FLOOR).all()
        kept.append(int((~moved).sum()))
        scattered.append(int(moved.sum()))
    assert kept[0] > kept[1] > kept[2]
    assert scattered[0] < scattered[1] < scattered[2]


def test_wet_ground_changes_only_ground_points_and_more_when_wetter(sample: SensorSample) -> None:
    before = pts(sample)
    ground = np.abs(before[:, 2] + SENSOR_HEIGHT) < lidar.GROUND_BAND_M
    assert ground.sum() >= 300
    lost = []
    for sev in (1, 2, 3):
        after = pts(lidar.wet_ground(sample, sev, rng()))
        np.testing.assert_array_equal(
            after[np.abs(after[:, 2] + SENSOR_HEIGHT) >= lidar.GROUND_BAND_M], before[~ground]
        )
        g = after[np.abs(after[:, 2] + SENSOR_HEIGHT) < lidar.GROUND_BAND_M]
        lost.append(int(ground.sum()) - len(g))
    assert 0 < lost[0] < lost[1] < lost[2]


def test_snow_replaces_more_returns_with_near_flakes_when_snowing_harder(sample: SensorSample) -> None:
    before = pts(sample)
    moved = []
    for sev in (1, 2, 3):
        after = pts(lidar.snow(sample, sev, rng()))
        assert len(after) == len(before)
        m = ~np.all(np.isclose(after[:, :3], before[:, :3]), axis=1)
        moved.append(int(m.sum()))
        r_in, r_out = np.linalg.norm(before[m, :3], axis=1), np.linalg.norm(after[m, :3], axis=1)
        assert (r_out <= np.minimum(r_in, lidar.SNOW_NEAR_M) + 1e-3).all()
        np.testing.assert_allclose(after[m, :3] / r_out[:, None], before[m, :3] / r_in[:, None], atol=1e-5)
    assert 0 < moved[0] < moved[1] < moved[2]
    assert lidar.snow_occupancy(0.5) == pytest.approx(6.944e-7, rel=1e-3)  # Robo3D's light set


def test_motion_blur_moves_points_more_at_higher_severity(sample: SensorSample) -> None:
    before = pts(sample)
    spread = []
    for sev in (1, 2, 3):
        after = pts(lidar.motion_blur(sample, sev, rng()))
        np.testing.assert_array_equal(after[:, 3:], before[:, 3:])
        d = after[:, :3] - before[:, :3]
        s = lidar.MOTION_STD_M[sev - 1]
        jitter = d - d.mean(axis=0)
        assert np.abs(jitter).max() <= 3 * s + 1e-5
        spread.append(float(jitter[:, 0].std()))
        assert spread[-1] == pytest.approx(0.1 * s, rel=0.1)
    assert spread[0] < spread[1] < spread[2]


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_beam_missing_loses_exactly_k_rings(sample: SensorSample, sev: int) -> None:
    before = set(ring_of(pts(sample)).tolist())
    after = set(ring_of(pts(lidar.beam_missing(sample, sev, rng(sev)))).tolist())
    lost = before - after
    assert len(lost) == lidar.BEAMS_LOST[sev - 1] and lost <= set(range(2, 29))


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_crosstalk_perturbs_exactly_the_stated_share(sample: SensorSample, sev: int) -> None:
    before = pts(sample)
    after = pts(lidar.crosstalk(sample, sev, rng()))
    changed = ~np.all(after[:, :3] == before[:, :3], axis=1)
    assert changed.sum() == int(lidar.CROSSTALK_SHARE[sev - 1] * len(before))
    np.testing.assert_array_equal(after[:, 4], before[:, 4])


def test_incomplete_echo_thins_vehicles_only(sample: SensorSample) -> None:
    before = pts(sample)
    gt = sample.gt
    assert gt is not None
    car = points_in_boxes(before, gt.boxes[gt.labels == CLASS_INDEX["car"]]).any(axis=0)
    for sev, share in enumerate(lidar.INCOMPLETE_ECHO_DROP, 1):
        after = pts(lidar.incomplete_echo(sample, sev, rng()))
        still = points_in_boxes(after, gt.boxes[gt.labels == CLASS_INDEX["car"]]).any(axis=0)
        assert still.sum() == car.sum() - int(car.sum() * share)
        np.testing.assert_array_equal(after[~still], before[~car])  # pedestrian and background untouched


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_cross_sensor_keeps_fixed_rings_and_half_the_points(sample: SensorSample, sev: int) -> None:
    before = pts(sample)
    after = pts(lidar.cross_sensor(sample, sev, rng()))
    dropped = set(lidar.CROSS_SENSOR_DROPPED[sev - 1])
    assert len(dropped) == (8, 16, 24)[sev - 1]
    assert not dropped & set(ring_of(after).tolist())
    assert len(after) == (int((~np.isin(ring_of(before), list(dropped))).sum()) + 1) // 2
