"""Every corruption of the catalog: it changes only its own modalities, never its input, is deterministic per
seed, and the catalog's selection / parsing / seeding rules.

- class: silent corruption of other sensors — a corruption changes nothing outside the modalities it names;
- class: non-reproducible benchmark — the same seed gives bit-identical inputs, another seed other ones;
- class: aliasing — the input sample and its arrays are never written to.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from corrupt_fixtures import make_sample

from sensorfuse.corrupt.catalog import (
    CATALOG,
    FAMILIES,
    apply,
    get,
    live,
    parse_severities,
    parse_spec,
    rng_for,
    select,
)
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.structures import SensorSample

CASES = [(name, sev) for name, c in CATALOG.items() for sev in c.severities]
#: corruptions that draw nothing at random
DETERMINISTIC = {
    "lidar_limited_fov", "lidar_beam_reduction", "lidar_missing", "camera_missing", "radar_missing",
    "camera_contrast", "camera_color_quant", "camera_brightness", "lidar_cross_sensor", "lidar_wet_ground",
    "temporal_lidar", "temporal_camera", "temporal_radar",
}  # fmt: skip
FIELDS = {
    "lidar": ("lidar",),
    "radar": ("radar",),
    "camera": ("images", "intrinsics", "cam_from_ref", "present"),
}


def arrays(s: SensorSample) -> dict[str, np.ndarray | None]:
    cams = s.cameras
    return {
        "lidar": None if s.lidar is None else s.lidar.points,
        "radar": None if s.radar is None else s.radar.points,
        "images": None if cams is None else cams.images,
        "intrinsics": None if cams is None else cams.intrinsics,
        "cam_from_ref": None if cams is None else cams.cam_from_ref,
        "present": None if cams is None else cams.present,
        "gt": None if s.gt is None else s.gt.boxes,
        "global_from_ref": s.meta.global_from_ref,
        "ego_from_ref": s.meta.ego_from_ref,
    }


def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def identical(x: SensorSample, y: SensorSample) -> bool:
    ax, ay = arrays(x), arrays(y)
    return all(same(ax[k], ay[k]) for k in ax) and x.meta.missing == y.meta.missing


def run(
    name: str,
    sev: int,
    s: SensorSample,
    reload_from: Callable[[SensorSample], Callable[[str, int], SensorSample]],
    seed: int = 0,
) -> SensorSample:
    return apply(s, name, sev, rng_for(seed, name, sev, s.meta.sample_token), reload_from(s))


@pytest.mark.parametrize(("name", "sev"), CASES)
def test_changes_only_its_modalities_and_never_its_input(name: str, sev: int, reload_from) -> None:  # type: ignore[no-untyped-def]
    """class: silent corruption of other sensors / aliasing."""
    s = make_sample()
    before = {k: None if v is None else v.copy() for k, v in arrays(s).items()}
    missing_before = dict(s.meta.missing)
    out = run(name, sev, s, reload_from)
    after = arrays(s)
    assert all(same(before[k], after[k]) for k in before), "the input sample was modified"
    assert s.meta.missing == missing_before
    c = get(name)
    got = arrays(out)
    untouched = [f for m, fields in FIELDS.items() if m not in c.modalities for f in fields]
    for f in (*untouched, "gt", "global_from_ref", "ego_from_ref"):
        assert same(before[f], got[f]), f"{name}@{sev} changed {f}"
    changed = [f for m in c.modalities for f in FIELDS[m] if not same(before[f], got[f])]
    random_noop = name == "lidar_missing_objects" and not changed  # p may pick no object for this seed
    assert changed or random_noop, f"{name}@{sev} changed none of {c.modalities}"
    new = set(out.meta.missing) - set(missing_before)
    assert all(out.meta.missing[k].startswith("not used:") for k in new), out.meta.missing


@pytest.mark.parametrize(("name", "sev"), CASES)
def test_same_seed_same_inputs_other_seed_other_inputs(name: str, sev: int, reload_from) -> None:  # type: ignore[no-untyped-def]
    """class: non-reproducible benchmark."""
    a = run(name, sev, make_sample(), reload_from, seed=7)
    b = run(name, sev, make_sample(), reload_from, seed=7)
    assert identical(a, b)
    others = [run(name, sev, make_sample(), reload_from, seed=k) for k in range(8, 13)]
    if name in DETERMINISTIC:
        assert all(identical(a, o) for o in others)
    else:
        assert any(not identical(a, o) for o in others), f"{name}@{sev} ignores its seed"


def test_severity_outside_the_levels_is_refused(sample: SensorSample) -> None:
    """class: bad input gets a clear error."""
    for name, c in CATALOG.items():
        with pytest.raises(ConfigError, match=f"{name}: severity 4"):
            apply(
                sample,
                name,
                len(c.severities) + 1 if len(c.severities) == 3 else 4,
                np.random.default_rng(0),
                lambda m, d: sample,
            )


def test_selection_parsing_and_errors() -> None:
    assert [c.name for c in select("all")] == list(CATALOG)
    cams = select("camera")
    assert cams and all(c.family == "camera" for c in cams)
    picked = select("lidar_fog, camera_fog,lidar_fog")
    assert [c.name for c in picked] == ["lidar_fog", "camera_fog"]
    assert {c.family for c in select(",".join(FAMILIES))} == set(FAMILIES)
    with pytest.raises(ConfigError, match=r"unknown corruption 'lidar_rain'.*lidar_fog"):
        select("lidar_rain")
    with pytest.raises(ConfigError, match="expected all"):
        select(" , ")
    assert parse_severities("3,1") == (1, 3)
    for bad in ("0", "4", "a", ""):
        with pytest.raises(ConfigError, match="--severities"):
            parse_severities(bad)
    c, k = parse_spec("camera_snow:2")
    assert (c.name, k) == ("camera_snow", 2)
    for bad in ("camera_snow", "camera_snow:4", "lidar_missing:2", "nope:1"):
        with pytest.raises(ConfigError):
            parse_spec(bad)


def test_seeding_is_stable_and_separates_every_input() -> None:
    """class: non-reproducible benchmark — the generator depends on seed, name, severity and token only."""
    draw = rng_for(0, "lidar_fog", 1, "tok").random(4)
    np.testing.assert_array_equal(draw, rng_for(0, "lidar_fog", 1, "tok").random(4))
    for other in (
        (1, "lidar_fog", 1, "tok"),
        (0, "lidar_snow", 1, "tok"),
        (0, "lidar_fog", 2, "tok"),
        (0, "lidar_fog", 1, "tok2"),
    ):
        assert not np.array_equal(draw, rng_for(*other).random(4))


def test_temporal_corruptions_need_a_loader_and_gt_ones_need_boxes(sample: SensorSample) -> None:
    """class: bad input gets a clear error (not a silent no-op)."""
    with pytest.raises(ConfigError, match="needs a loader"):
        apply(sample, "temporal_lidar", 1, np.random.default_rng(0))
    sample.gt = None
    for name in ("lidar_missing_objects", "lidar_incomplete_echo"):
        with pytest.raises(DataError, match="needs the ground-truth boxes"):
            apply(sample, name, 1, np.random.default_rng(0))


def test_live_corruption_seeds_each_frame_by_its_token() -> None:
    """The replay's per-frame function: deterministic per frame, different across frames."""
    c = get("lidar_crosstalk")
    f = live(c, 2, seed=3)
    a, b = f(make_sample(token="t1")), f(make_sample(token="t1"))
    assert identical(a, b)
    other = f(make_sample(token="t2"))
    assert not same(a.lidar.points, other.lidar.points)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(CATALOG))
def test_empty_clouds_and_absent_cameras_are_handled(name: str, reload_from) -> None:  # type: ignore[no-untyped-def]
    """class: crash on the unhappy path — an empty LiDAR cloud, no radar return, no camera."""
    from dataclasses import replace

    from sensorfuse.structures import PointCloud, RadarPoints

    s = make_sample()
    s = replace(
        s,
        lidar=PointCloud(np.zeros((0, 5), np.float32)),
        radar=RadarPoints(np.zeros((0, 7), np.float32)),
        cameras=None,
    )
    out = run(name, get(name).severities[-1], s, reload_from)
    assert out.cameras is None or name.startswith("temporal_")
    assert out.lidar is None or out.lidar.points.shape[1] == 5
    assert out.radar is None or out.radar.points.shape[1] == 7
