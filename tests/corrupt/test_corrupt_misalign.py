"""Spatial and temporal misalignment (class: corruption not doing what it states).

Spatial: a calibration off by a stated rotation / translation moves a known point's projection by the
expected pixels, and every sensor gets a rigid motion of exactly the stated size. Temporal: a late stream
carries the payload of the newest message at least ``delay`` older, under the current pose; where the recording
has none that old the sensor is absent, counted as intended.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorfuse.corrupt import misalign
from sensorfuse.corrupt.catalog import apply, rng_for
from sensorfuse.data.accounting import INTENDED, reason_of
from sensorfuse.structures import SensorSample


def project(k: np.ndarray, cam_from_ref: np.ndarray, p: np.ndarray) -> np.ndarray:
    c = cam_from_ref[:3, :3] @ p + cam_from_ref[:3, 3]
    uvw = k @ c
    return uvw[:2] / uvw[2]


def rotation_angle(r: np.ndarray) -> float:
    return float(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))


def test_camera_calibration_error_moves_a_known_point_by_the_expected_pixels(sample: SensorSample) -> None:
    cams = sample.cameras
    assert cams is not None
    k, cfr = cams.intrinsics[0].astype(np.float64), cams.cam_from_ref[0].astype(np.float64)
    depth = 20.0
    point = np.linalg.inv(cfr) @ np.array([0.0, 0.0, depth, 1.0])  # on the optical axis, 20 m ahead
    uv0 = project(k, cfr, point[:3])
    np.testing.assert_allclose(uv0, k[:2, 2], atol=1e-6)
    theta = np.radians(1.0)  # yaw of the camera by 1°: the point moves sideways by f tan(theta)
    yawed = misalign.perturb_camera(cams, 0, misalign.rigid(np.array([0.0, 1.0, 0.0]), theta, np.zeros(3)))
    du = project(k, yawed.cam_from_ref[0].astype(np.float64), point[:3]) - uv0
    assert abs(du[0]) == pytest.approx(k[0, 0] * np.tan(theta), rel=1e-3) and abs(du[1]) < 1e-3
    shifted = misalign.perturb_camera(
        cams, 0, misalign.rigid(np.array([0.0, 0.0, 1.0]), 0.0, np.array([0.1, 0.0, 0.0]))
    )
    du = project(k, shifted.cam_from_ref[0].astype(np.float64), point[:3]) - uv0
    assert du[0] == pytest.approx(k[0, 0] * 0.1 / depth, rel=1e-3)  # 0.1 m sideways at 20 m
    assert np.array_equal(cams.cam_from_ref, sample.cameras.cam_from_ref)  # type: ignore[union-attr]


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_spatial_misalignment_has_exactly_the_stated_size_per_sensor(sample: SensorSample, sev: int) -> None:
    angle, shift = misalign.SPATIAL[sev - 1]
    out = misalign.spatial_misalignment(sample, sev, np.random.default_rng(sev))
    deltas = []
    for i in range(6):
        d = out.cameras.cam_from_ref[i].astype(np.float64) @ np.linalg.inv(sample.cameras.cam_from_ref[i])  # type: ignore[union-attr]
        assert rotation_angle(d[:3, :3]) == pytest.approx(angle, abs=2e-5)
        assert np.linalg.norm(d[:3, 3]) == pytest.approx(shift, abs=1e-5)
        deltas.append(d)
    assert not np.allclose(deltas[0], deltas[1])  # drawn per sensor
    a, b = sample.lidar.points[:, :3].astype(np.float64), out.lidar.points[:, :3].astype(np.float64)  # type: ignore[union-attr]
    # the LiDAR moved rigidly: recover the motion from three points
    ca, cb = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(cb.T @ ca)
    r = u @ vt
    assert rotation_angle(r) == pytest.approx(angle, abs=1e-4)
    assert np.linalg.norm(b.mean(0) - r @ a.mean(0)) == pytest.approx(shift, abs=1e-3)
    v0, v1 = sample.radar.points[:, 3:5], out.radar.points[:, 3:5]  # type: ignore[union-attr]
    assert not np.allclose(v0, v1)
    np.testing.assert_allclose(np.linalg.norm(v1, axis=1), np.linalg.norm(v0, axis=1), rtol=0.02, atol=1e-3)


# ----- temporal misalignment on a generated recording (real sweeps and timestamps) -------------------------


@pytest.fixture(scope="module")
def world(synth_world: tuple[Path, str]) -> tuple[Path, str]:
    return synth_world


def _load(world: tuple[Path, str], k: int = 3):  # type: ignore[no-untyped-def]
    """(index, tokens of scene-0103, config, the k-th keyframe's sample)."""
    from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample

    index = NuScenesIndex(*world)
    tokens = index.scene_tokens("scene-0103")
    cfg = SampleConfig(
        lidar_sweeps=2, radar_sweeps=1, image_size=(32, 64), on_missing="drop_sensor", load_gt=False
    )
    return index, tokens, cfg, load_sample(index, tokens[k], cfg)


@pytest.mark.parametrize("channel", ["LIDAR_TOP", "CAM_FRONT", "RADAR_FRONT"])
def test_delayed_drive_reads_the_newest_message_old_enough(world: tuple[Path, str], channel: str) -> None:
    from sensorfuse.data.sample import nuscenes_drive

    index, tokens, cfg, _ = _load(world)
    base = nuscenes_drive(index, cfg)
    msg = base.message(index.sample(tokens[3])["data"][channel])
    late = misalign.DelayedDrive.of(base, {channel: 300_000})
    old = late.older(msg)
    history = base.history(msg, 64)
    assert old.channel == channel and old.timestamp <= msg.timestamp - 300_000
    assert old == next(m for m in history if m.timestamp <= msg.timestamp - 300_000)
    assert misalign.DelayedDrive.of(base, {}).older(msg) == msg


def test_temporal_lidar_fuses_old_points_under_the_current_pose(world: tuple[Path, str]) -> None:
    index, tokens, cfg, clean = _load(world)
    reload = misalign.reload_for(index, tokens[3], cfg)
    out = apply(clean, "temporal_lidar", 2, rng_for(0, "temporal_lidar", 2, tokens[3]), reload)
    assert out.lidar is not None and not np.array_equal(out.lidar.points, clean.lidar.points)  # type: ignore[union-attr]
    assert (
        out.cameras is clean.cameras
        and out.radar is clean.radar
        and out.meta.timestamp == clean.meta.timestamp
    )
    np.testing.assert_array_equal(out.meta.global_from_ref, clean.meta.global_from_ref)
    # the time-lag column is the current sweeps' (the fusion does not know the data is late)
    np.testing.assert_array_equal(np.unique(out.lidar.points[:, 4]), np.unique(clean.lidar.points[:, 4]))  # type: ignore[union-attr]


def test_temporal_camera_keeps_the_current_calibration(world: tuple[Path, str]) -> None:
    index, tokens, cfg, clean = _load(world)
    out = apply(
        clean, "temporal_camera", 3, np.random.default_rng(0), misalign.reload_for(index, tokens[3], cfg)
    )
    assert out.cameras is not None and clean.cameras is not None
    np.testing.assert_array_equal(out.cameras.cam_from_ref, clean.cameras.cam_from_ref)
    assert not np.array_equal(out.cameras.images, clean.cameras.images)


def test_stream_late_before_the_recording_starts_is_absent_as_intended(world: tuple[Path, str]) -> None:
    """class: silent drop — the sensor that has no data yet is counted, with the reason INTENDED."""
    index, tokens, cfg, first = _load(world, k=0)
    out = apply(
        first, "temporal_lidar", 3, np.random.default_rng(0), misalign.reload_for(index, tokens[0], cfg)
    )
    assert out.lidar is None
    assert reason_of(out.meta.missing["LIDAR_TOP"]) == INTENDED and "500 ms" in out.meta.missing["LIDAR_TOP"]
