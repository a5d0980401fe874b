"""Radar corruptions change what they say (class: corruption not doing what it states)."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.corrupt import radar
from sensorfuse.data.accounting import INTENDED, reason_of
from sensorfuse.structures import SensorSample


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_dropped_returns_keep_a_subset_shrinking_with_severity(sample: SensorSample) -> None:
    before = sample.radar.points  # type: ignore[union-attr]
    counts = []
    for sev in (1, 2, 3):
        after = radar.dropped_returns(sample, sev, rng()).radar.points  # type: ignore[union-attr]
        rows = {tuple(r) for r in before.tolist()}
        assert all(tuple(r) in rows for r in after.tolist())
        counts.append(len(after))
    assert len(before) > counts[0] > counts[1] > counts[2]


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_velocity_noise_changes_only_the_velocities_by_the_stated_std(sample: SensorSample, sev: int) -> None:
    before = np.repeat(sample.radar.points, 50, axis=0)  # type: ignore[union-attr]
    sample.radar.points = before  # type: ignore[union-attr]
    after = radar.velocity_noise(sample, sev, rng()).radar.points  # type: ignore[union-attr]
    np.testing.assert_array_equal(np.delete(after, [3, 4], axis=1), np.delete(before, [3, 4], axis=1))
    assert (after[:, 3:5] - before[:, 3:5]).std() == pytest.approx(radar.VELOCITY_STD[sev - 1], rel=0.05)


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_ghosts_are_farther_copies_along_the_same_bearing(sample: SensorSample, sev: int) -> None:
    before = sample.radar.points  # type: ignore[union-attr]
    after = radar.ghost_targets(sample, sev, rng()).radar.points  # type: ignore[union-attr]
    np.testing.assert_array_equal(after[: len(before)], before)
    ghosts = after[len(before) :]
    assert len(ghosts) == round(radar.GHOST_SHARE[sev - 1] * len(before))
    for g in ghosts:
        az = np.arctan2(before[:, 1], before[:, 0])
        j = np.argmin(
            np.abs(np.arctan2(g[1], g[0]) - az) + np.abs(g[5] + radar.GHOST_RCS_LOSS_DB - before[:, 5])
        )
        ratio = np.hypot(*g[:2]) / np.hypot(*before[j, :2])
        assert radar.GHOST_RANGE[0] - 1e-4 <= ratio <= radar.GHOST_RANGE[1] + 1e-4
        np.testing.assert_array_equal(g[3:5], before[j, 3:5])


def test_radar_missing_is_counted_as_intended(sample: SensorSample) -> None:
    """class: silent drop."""
    out = radar.radar_missing(sample, 1, rng())
    assert out.radar is None and len(out.meta.missing) == 5
    assert all(reason_of(v) == INTENDED for v in out.meta.missing.values())
