"""The project's merged LiDAR and radar equal the devkit's ``from_file_multisweep`` (positions, time lags,
default radar filters), with radar velocities additionally rotated into the LiDAR frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorfuse.classes import LIDAR, RADARS
from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.sources.nuscenes.chain import global_from_sensor


def compare_with_devkit(root: Path, version: str, token: str, lidar_sweeps: int, radar_sweeps: int) -> None:
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud

    nusc = NuScenes(version=version, dataroot=str(root), verbose=False)
    rec = nusc.get("sample", token)
    idx = NuScenesIndex(root, version)
    s = load_sample(
        idx, token, SampleConfig(lidar_sweeps=lidar_sweeps, radar_sweeps=radar_sweeps, load_gt=False)
    )
    assert s.lidar is not None and s.radar is not None
    pc, times = LidarPointCloud.from_file_multisweep(nusc, rec, LIDAR, LIDAR, nsweeps=lidar_sweeps)
    np.testing.assert_allclose(s.lidar.points[:, :4], pc.points.T, atol=2e-3)
    np.testing.assert_allclose(s.lidar.points[:, 4], times[0], atol=1e-6)
    ref_from_global = global_from_sensor(idx, rec["data"][LIDAR]).inverse()
    parts = []
    for ch in RADARS:
        rpc, rt = RadarPointCloud.from_file_multisweep(nusc, rec, ch, LIDAR, nsweeps=radar_sweeps)
        parts.append(np.concatenate([rpc.points, rt], axis=0).T)
    dev = np.concatenate(parts)
    ours = s.radar.points
    assert len(ours) == len(dev) > 0
    np.testing.assert_allclose(ours[:, :3], dev[:, :3], atol=2e-3)
    np.testing.assert_allclose(ours[:, 5], dev[:, 5], atol=1e-4)  # rcs
    np.testing.assert_allclose(ours[:, 6], dev[:, 18], atol=1e-6)  # time lag
    # velocities: the devkit leaves (vx_comp, vy_comp) in each radar's frame; ours are in the LiDAR frame
    speed_dev = np.hypot(dev[:, 8], dev[:, 9])
    # equal speeds up to the small vz the tilt of a radar mount puts out of the xy plane
    np.testing.assert_allclose(np.hypot(ours[:, 3], ours[:, 4]), speed_dev, rtol=2e-3, atol=1e-3)
    radar_to_ref = ref_from_global @ global_from_sensor(idx, rec["data"]["RADAR_FRONT"])
    n_front = len(parts[0])
    v = np.c_[dev[:n_front, 8:10], np.zeros(n_front)] @ radar_to_ref.rotation.T
    if radar_sweeps == 1:
        np.testing.assert_allclose(ours[:n_front, 3:5], v[:, :2], atol=1e-3)


@pytest.mark.realdata
def test_real_keyframe_matches_devkit(real_world: tuple[Path, str, str]) -> None:
    compare_with_devkit(*real_world, lidar_sweeps=1, radar_sweeps=1)
