"""MetaBEV sensor failures change what they say (class: corruption not doing what it states)."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.boxes import points_in_boxes
from sensorfuse.corrupt import failures
from sensorfuse.corrupt.common import ring_of
from sensorfuse.data.accounting import INTENDED, reason_of
from sensorfuse.geometry import wrap_angle
from sensorfuse.structures import SensorSample


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_limited_fov_keeps_only_points_inside_the_angle(sample: SensorSample, sev: int) -> None:
    fov = np.radians(failures.LIMITED_FOV_DEG[sev - 1])
    out = failures.limited_fov(sample, sev, rng())
    pts, before = out.lidar.points, sample.lidar.points  # type: ignore[union-attr]
    az = lambda p: np.abs(wrap_angle(np.arctan2(p[:, 1], p[:, 0])))  # noqa: E731 (forward = +x here)
    assert np.all(az(pts) <= fov / 2 + 1e-6)
    assert len(pts) == int(np.sum(az(before) <= fov / 2 + 1e-9))  # and every such point is kept


def test_limited_fov_follows_the_ego_forward_axis(sample: SensorSample) -> None:
    """The kept cone turns with the ego (forward = ego +x seen from the reference frame)."""
    ego_from_ref = sample.meta.ego_from_ref.copy()
    ego_from_ref[:3, :3] = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]  # ref +y is ego forward (nuScenes LIDAR_TOP)
    sample.meta.ego_from_ref = ego_from_ref
    pts = failures.limited_fov(sample, 3, rng()).lidar.points  # type: ignore[union-attr]
    assert np.all(np.abs(wrap_angle(np.arctan2(pts[:, 1], pts[:, 0]) - np.pi / 2)) <= np.pi / 4 + 1e-6)


def test_severity_is_monotonic_for_point_loss(sample: SensorSample) -> None:
    for fn in (failures.limited_fov, failures.beam_reduction):
        counts = [len(fn(sample, k, rng()).lidar) for k in (1, 2, 3)]  # type: ignore[arg-type]
        assert counts[0] > counts[1] > counts[2], (fn.__name__, counts)


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_beam_reduction_leaves_the_stated_share_of_rings(sample: SensorSample, sev: int) -> None:
    out = failures.beam_reduction(sample, sev, rng())
    rings = set(ring_of(out.lidar.points).tolist())  # type: ignore[union-attr]
    assert len(rings) == failures.BEAMS_KEPT[sev - 1]
    kept = ring_of(sample.lidar.points)  # type: ignore[union-attr]
    assert len(out.lidar) == int(np.isin(kept, list(rings)).sum())  # type: ignore[arg-type]


def test_missing_objects_removes_exactly_the_points_inside_chosen_boxes(sample: SensorSample) -> None:
    pts = sample.lidar.points  # type: ignore[union-attr]
    inside = points_in_boxes(pts, sample.gt.boxes)  # type: ignore[union-attr]
    assert inside.sum(axis=1).min() >= 60
    removed_boxes = set()
    for seed in range(12):
        out = failures.missing_objects(sample, 2, rng(seed)).lidar.points  # type: ignore[union-attr]
        kept = {tuple(p) for p in out.tolist()}
        gone = np.array([tuple(p) not in kept for p in pts.tolist()])
        chosen = [b for b in range(len(inside)) if gone[inside[b]].any()]
        for b in chosen:
            assert gone[inside[b]].all(), "an object kept some of its points"
        assert np.array_equal(gone, inside[chosen].any(axis=0) if chosen else np.zeros(len(pts), bool))
        removed_boxes.add(tuple(chosen))
    assert {(), (0, 1)} & removed_boxes and len(removed_boxes) > 1  # p = 0.5: varies with the seed


def test_whole_sensor_missing_is_recorded_as_intended(sample: SensorSample) -> None:
    """class: silent drop — every sensor a corruption removes is counted with the reason INTENDED."""
    out = failures.lidar_missing(sample, 1, rng())
    assert out.lidar is None and reason_of(out.meta.missing["LIDAR_TOP"]) == INTENDED
    out = failures.camera_missing(sample, 1, rng())
    assert out.cameras is None
    assert {reason_of(v) for v in out.meta.missing.values()} == {INTENDED} and len(out.meta.missing) == 6


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_view_drop_marks_the_stated_number_of_views_absent(sample: SensorSample, sev: int) -> None:
    out = failures.view_drop(sample, sev, rng(sev))
    k = failures.VIEWS_DROPPED[sev - 1]
    assert int((~out.cameras.present).sum()) == k  # type: ignore[union-attr]
    dropped = [c for c, p in zip(out.cameras.channels, out.cameras.present) if not p]  # type: ignore[union-attr]
    assert sorted(out.meta.missing) == sorted(dropped)
    assert np.array_equal(out.cameras.images, sample.cameras.images)  # type: ignore[union-attr]


def test_view_noise_and_occlusion_grow_with_severity(sample: SensorSample) -> None:
    clean = sample.cameras.images.astype(np.float64)  # type: ignore[union-attr]
    noise = [np.abs(failures.view_noise(sample, k, rng()).cameras.images - clean).mean() for k in (1, 2, 3)]  # type: ignore[union-attr]
    assert noise[0] < noise[1] < noise[2]
    assert all(out.cameras.present.all() for out in [failures.view_noise(sample, 3, rng())])  # type: ignore[union-attr]
    for area in failures.OCCLUDED_AREA:
        m = failures.occlusion_mask(90, 160, area, rng())
        assert area <= m.mean() < 1.0
    dark = [failures.obstacle_occlusion(sample, k, rng()).cameras.images.mean() for k in (1, 2, 3)]  # type: ignore[union-attr]
    assert clean.mean() > dark[0] > dark[1] > dark[2]
