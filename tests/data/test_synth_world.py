"""On a generated world: ego-motion compensation makes static actors sharp, and radar velocities rotated
into the LiDAR frame match the annotated (radial) velocities of moving actors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorfuse.boxes import points_in_boxes
from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.geometry import Transform
from sensorfuse.io.lidar_bin import read_lidar_bin
from sensorfuse.sources.nuscenes.chain import ego_from_sensor, global_from_sensor, walk_sweeps
from sensorfuse.structures import SensorSample


@pytest.fixture()
def world(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """The session's generated world (``synth_world`` of tests/conftest.py); skipped while it is not there."""
    try:
        return request.getfixturevalue("synth_world")  # type: ignore[no-any-return]
    except pytest.FixtureLookupError:
        pytest.skip("the synth_world fixture is not defined in tests/conftest.py")


def _last_sample(world: tuple[Path, str]) -> tuple[NuScenesIndex, str]:
    idx = NuScenesIndex(*world)
    scene = max(idx.scenes.values(), key=lambda s: len(s["samples"]))
    return idx, scene["samples"][-1]  # the last keyframe has a full 10-sweep history


def _grown(boxes: np.ndarray, margin: float) -> np.ndarray:
    b = boxes.copy()
    b[:, 3:6] += 2 * margin
    return b


def _surface_spread(merged: np.ndarray, other: np.ndarray, box: np.ndarray) -> tuple[float, float]:
    """Median distance from the earlier sweeps' points on the actor to the keyframe sweep's points, m.

    The actor's points are selected in ``merged`` (compensated); the same rows of ``other`` (another
    merge of the same sweeps, same point order) are measured too, for contrast.
    """
    from scipy.spatial import cKDTree

    sel = points_in_boxes(merged, _grown(box[None], 0.2))[0]
    key, old = sel & (merged[:, 4] == 0), sel & (merged[:, 4] > 0)
    assert key.sum() >= 20 and old.sum() >= 20, "too few points on the actor"
    d_merged = cKDTree(merged[key, :3]).query(merged[old, :3])[0]
    d_other = cKDTree(other[key, :3]).query(other[old, :3])[0]
    return float(np.median(d_merged)), float(np.median(d_other))


def _uncompensated(idx: NuScenesIndex, token: str) -> np.ndarray:
    """The devkit-less 'wrong' merge: every sweep placed with the static extrinsics only (no ego motion)."""
    key = idx.samples[token]["data"]["LIDAR_TOP"]
    parts = []
    for tok in walk_sweeps(idx, key, 10):
        p = read_lidar_bin(idx.path(tok))
        lag = (idx.sample_data[key]["timestamp"] - idx.sample_data[tok]["timestamp"]) * 1e-6
        parts.append(np.c_[p[:, :4], np.full(len(p), lag)])
    return np.concatenate(parts).astype(np.float32)


def test_static_actor_is_sharp_after_compensation(world: tuple[Path, str]) -> None:
    idx, token = _last_sample(world)
    s = load_sample(idx, token, SampleConfig(lidar_sweeps=10, lidar_min_distance=0.0))
    assert s.lidar is not None and s.gt is not None and len(np.unique(s.lidar.points[:, 4])) == 10
    speed = np.hypot(s.gt.boxes[:, 7], s.gt.boxes[:, 8])
    static = np.flatnonzero((speed < 0.05) & (s.gt.num_lidar_pts >= 40))
    assert len(static) > 0
    first = walk_sweeps(idx, idx.samples[token]["data"]["LIDAR_TOP"], 10)[-1]
    ego_moved = np.linalg.norm(
        global_from_sensor(idx, first).translation - Transform(s.meta.global_from_ref).translation
    )
    assert ego_moved > 1.0, "the ego must move over the 10 sweeps for this test to mean anything"
    raw = _uncompensated(idx, token)
    assert raw.shape == s.lidar.points.shape
    spreads = np.array([_surface_spread(s.lidar.points, raw, s.gt.boxes[i]) for i in static[:8]])
    sharp, smeared = spreads[:, 0], spreads[:, 1]
    assert sharp.max() < 0.15, f"static actors spread {np.round(sharp, 3)} m after compensation"
    # without compensation the same points smear over the ego's path (an actor parallel to the path can
    # hide it: its points slide along its own surface, so compare the worst and typical cases)
    assert smeared.max() > 3 * sharp.max() and np.median(smeared) > np.median(sharp), (sharp, smeared)


def _radar_checks(idx: NuScenesIndex, token: str, s: SensorSample) -> tuple[np.ndarray, np.ndarray]:
    """Measured (N, 2) and expected radial (N, 2) velocities of radar points on moving actors."""
    assert s.radar is not None and s.gt is not None
    moving = np.flatnonzero(np.hypot(s.gt.boxes[:, 7], s.gt.boxes[:, 8]) > 1.0)
    mask = points_in_boxes(s.radar.points, _grown(s.gt.boxes[moving], 0.5))
    ref_from_global = Transform(s.meta.global_from_ref).inverse()
    sensor_xy = {}
    for ch in ("RADAR_FRONT", "RADAR_FRONT_LEFT", "RADAR_FRONT_RIGHT", "RADAR_BACK_LEFT", "RADAR_BACK_RIGHT"):
        sd = idx.samples[token]["data"][ch]
        sensor_xy[ch] = (ref_from_global @ global_from_sensor(idx, sd)).translation[:2]
    meas, expect = [], []
    for j, bi in enumerate(moving):
        pts = s.radar.points[mask[j]]
        v = s.gt.boxes[bi, 7:9]
        for p in pts:
            # the radar that saw it: the nearest mount (each radar faces away from the car)
            cands = [(np.linalg.norm(p[:2] - xy), xy) for xy in sensor_xy.values()]
            xy = min(cands, key=lambda c: c[0])[1]
            u = (p[:2] - xy) / np.linalg.norm(p[:2] - xy)
            meas.append(p[3:5])
            expect.append((v @ u) * u)
    return np.array(meas), np.array(expect)


def test_radar_velocity_rotated_into_lidar_frame_matches_annotation(world: tuple[Path, str]) -> None:
    idx, token = _last_sample(world)
    s = load_sample(idx, token, SampleConfig(radar_sweeps=1, lidar_sweeps=1))
    meas, expect = _radar_checks(idx, token, s)
    assert len(meas) >= 5, "no radar returns on moving actors"
    err = np.linalg.norm(meas - expect, axis=1)
    assert np.median(err) < 0.3 and np.linalg.norm(expect, axis=1).mean() > 0.5
    # the devkit leaves velocities in each radar's frame; in the LiDAR frame (rotated ~90°) that is wrong
    ego_from_lidar = ego_from_sensor(idx, idx.samples[token]["data"]["LIDAR_TOP"])
    unrotated = np.c_[meas, np.zeros(len(meas))] @ ego_from_lidar.rotation  # back towards the ego/radar axes
    assert np.median(np.linalg.norm(unrotated[:, :2] - expect, axis=1)) > 3 * np.median(err)


def test_split_listing(world: tuple[Path, str]) -> None:
    idx = NuScenesIndex(*world)
    assert set(idx.splits) >= {"mini_train", "mini_val"}
    train, val = idx.split_tokens("mini_train"), idx.split_tokens("mini_val")
    assert train and val and not set(train) & set(val)
    assert sorted(train + val) == sorted(idx.split_tokens("all"))


def test_multisweep_matches_devkit(world: tuple[Path, str]) -> None:
    from test_vs_devkit import compare_with_devkit

    _, token = _last_sample(world)
    compare_with_devkit(world[0], world[1], token, lidar_sweeps=10, radar_sweeps=6)
