"""Bad inputs, one by one, on private copies of the real one-sample dataroot.

Each case must give a DataError naming the file or token and the problem (``on_missing="raise"``), or,
under ``on_missing="drop_sensor"``, a sample with that sensor marked missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from realworld import copy_world

from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.errors import DataError
from sensorfuse.structures import SensorSample

pytestmark = pytest.mark.realdata


def _file(root: Path, channel: str) -> Path:
    return next((root / "samples" / channel).iterdir())


def _edit_table(root: Path, name: str, fn: Callable[[list[dict]], None]) -> None:
    path = root / "v1.0-mini" / f"{name}.json"
    recs = json.loads(path.read_text())
    fn(recs)
    path.write_text(json.dumps(recs))


def truncate_lidar(root: Path) -> str:
    p = _file(root, "LIDAR_TOP")
    p.write_bytes(p.read_bytes()[:-7])
    return p.name


def nan_lidar(root: Path) -> str:
    p = _file(root, "LIDAR_TOP")
    pts = np.fromfile(p, np.float32).reshape(-1, 5)
    pts[100:103, 0] = np.nan
    pts[200, 2] = np.inf
    pts.tofile(p)
    return p.name


def empty_lidar(root: Path) -> str:
    p = _file(root, "LIDAR_TOP")
    p.write_bytes(b"")
    return p.name


def broken_radar_header(root: Path) -> str:
    p = _file(root, "RADAR_FRONT_LEFT")
    p.write_bytes(p.read_bytes().replace(b"VERSION 0.7", b"VERSON 0.7", 1))
    return p.name


def corrupt_jpeg(root: Path) -> str:
    p = _file(root, "CAM_BACK")
    p.write_bytes(p.read_bytes()[:60_000])
    return p.name


def missing_jpeg(root: Path) -> str:
    p = _file(root, "CAM_FRONT")
    p.unlink()
    return p.name


def _add_lidar_sweep(root: Path, timestamp_offset_us: int, prev_token: str = "sd-sweep") -> None:
    def sd(recs: list[dict]) -> None:
        key = next(r for r in recs if r["token"] == "sd-lidar_top")
        key["prev"] = prev_token
        recs.append({**key, "token": "sd-sweep", "ego_pose_token": "sd-sweep", "is_key_frame": False, "prev": "",
                     "next": key["token"], "timestamp": key["timestamp"] + timestamp_offset_us})  # fmt: skip

    def pose(recs: list[dict]) -> None:
        key = next(r for r in recs if r["token"] == "sd-lidar_top")
        recs.append({**key, "token": "sd-sweep", "timestamp": key["timestamp"] + timestamp_offset_us})

    _edit_table(root, "sample_data", sd)
    _edit_table(root, "ego_pose", pose)


def non_monotonic(root: Path) -> str:
    _add_lidar_sweep(root, +20_000)  # the "previous" sweep is later than the keyframe
    return "sd-sweep"


def broken_chain(root: Path) -> str:
    _add_lidar_sweep(root, -50_000, prev_token="no-such-token")  # the keyframe's prev dangles
    return "no-such-token"


def stale_camera(root: Path) -> str:
    def sd(recs: list[dict]) -> None:
        next(r for r in recs if r["token"] == "sd-cam_front_left")["timestamp"] -= 400_000

    _edit_table(root, "sample_data", sd)
    return "sd-cam_front_left"


CASES = {
    # case: (corrupt, channel, message pattern)
    "truncated_lidar": (truncate_lidar, "LIDAR_TOP", "not a multiple of 20"),
    "nan_lidar": (nan_lidar, "LIDAR_TOP", "non-finite"),
    "empty_lidar": (empty_lidar, "LIDAR_TOP", "empty"),
    "broken_radar_header": (broken_radar_header, "RADAR_FRONT_LEFT", "VERSION"),
    "corrupt_jpeg": (corrupt_jpeg, "CAM_BACK", "truncated or corrupt JPEG"),
    "missing_file": (missing_jpeg, "CAM_FRONT", "missing"),
    "non_monotonic_timestamps": (non_monotonic, "LIDAR_TOP", "non-monotonic"),
    "broken_prev_chain": (broken_chain, "LIDAR_TOP", "broken prev/next chain"),
    "stale_camera": (stale_camera, "CAM_FRONT_LEFT", "stale"),
}


def _check_dropped(s: SensorSample, channel: str, where: str, pattern: str) -> None:
    assert set(s.meta.missing) == {channel}
    assert where in s.meta.missing[channel] and pattern in s.meta.missing[channel]
    if channel == "LIDAR_TOP":
        assert s.lidar is None and s.radar is not None and s.cameras is not None
    elif channel.startswith("RADAR"):
        assert s.radar is not None and s.lidar is not None  # the other four radars are there
    else:
        assert s.cameras is not None and s.lidar is not None
        i = s.cameras.channels.index(channel)
        assert not s.cameras.present[i] and s.cameras.present.sum() == 5


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case: str, real_world: tuple[Path, str, str], tmp_path: Path) -> None:
    src, version, token = real_world
    corrupt, channel, pattern = CASES[case]
    root = copy_world(src, tmp_path / "w")
    where = corrupt(root)
    index = NuScenesIndex(root, version)
    cfg = SampleConfig(radar_sweeps=1, load_gt=False)
    with pytest.raises(DataError, match=pattern) as err:
        load_sample(index, token, cfg)
    assert where in str(err.value)
    s = load_sample(index, token, SampleConfig(radar_sweeps=1, load_gt=False, on_missing="drop_sensor"))
    _check_dropped(s, channel, where, pattern)


def test_all_radars_missing_gives_no_radar_modality(
    real_world: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, version, token = real_world
    root = copy_world(src, tmp_path / "w")
    for ch in ("RADAR_FRONT", "RADAR_FRONT_LEFT", "RADAR_FRONT_RIGHT", "RADAR_BACK_LEFT", "RADAR_BACK_RIGHT"):
        _file(root, ch).unlink()
    s = load_sample(
        NuScenesIndex(root, version), token, SampleConfig(on_missing="drop_sensor", load_gt=False)
    )
    assert s.radar is None and len(s.meta.missing) == 5 and s.lidar is not None


def test_wrong_version_and_missing_table(real_world: tuple[Path, str, str], tmp_path: Path) -> None:
    src, version, _ = real_world
    root = copy_world(src, tmp_path / "w")
    (root / version / "ego_pose.json").unlink()
    with pytest.raises(DataError, match=r"ego_pose\.json.*missing"):
        NuScenesIndex(root, version, rebuild=True)
