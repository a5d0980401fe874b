"""BagDrive: a recording of another rig (one camera, a LiDAR named os_top with per-point time, a RadarScan
radar, odometry) read through the Drive protocol and assembled; deskewing through the drive; bad input."""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from drive_fixtures import (
    BOX,
    EGO_FROM_OS,
    LIDAR_DT,
    OTHER_RIG,
    SPEED,
    T0,
    K,
    ego_pose,
    frozen_sweep,
    rotating_sweep,
    write_other_rig_bag,
)

from sensorfuse.classes import CAMERAS, CLASS_INDEX, RADARS
from sensorfuse.data.assemble import Selection, assemble
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import DataError
from sensorfuse.sources.bag_drive import BagDrive, open_drive
from sensorfuse.sources.drive_rig import parse_rig_text
from sensorfuse.sync.core import Message

#: A nuScenes-trained config pointed at this rig's LiDAR (the cameras and radars keep their nuScenes slots).
CFG = SampleConfig(
    lidars=("os_top",),
    reference="os_top",
    cameras=CAMERAS,
    radars=RADARS,
    lidar_sweeps=2,
    radar_sweeps=2,
    image_size=(64, 128),
    on_missing="drop_sensor",
)


def _rig(extra: str = "", **replace: str) -> object:
    text = OTHER_RIG
    for a, b in replace.items():
        text = text.replace(a, b)
    return parse_rig_text(text + extra, "other_car.yaml", "x")


def _by(drive: BagDrive, channel: str) -> list[Message]:
    return [m for m in drive.messages() if m.channel == channel]


def _selection(drive: BagDrive, i: int) -> Selection:
    ref = _by(drive, "os_top")[i]
    chosen = {
        "os_top": ref,
        "CAM_FRONT": _by(drive, "CAM_FRONT")[i],
        "RADAR_FRONT": _by(drive, "RADAR_FRONT")[i],
    }
    return Selection(ref, chosen)


@pytest.fixture(scope="module")
def other_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("other") / "other.mcap"
    write_other_rig_bag(path)
    return path


@pytest.mark.parametrize("container", ["mcap", "db3"])
def test_other_rig_assembles_with_absent_sensors(tmp_path: Path, container: str) -> None:
    """class: absent sensor — the rig's three sensors are assembled; the nuScenes sensors it lacks are
    reported missing as ``absent``; messages are time-ordered with sensor#index tokens; the radar's
    Doppler is compensated by the ego motion (a static target reads ~0 m/s)."""
    path = tmp_path / ("other.mcap" if container == "mcap" else "other_bag")
    write_other_rig_bag(path, container)
    with open_drive(path, _rig()) as drive:
        assert dict(drive.sensors).keys() == {"os_top", "CAM_FRONT", "RADAR_FRONT"} and not drive.problems
        ts = [(m.timestamp, m.channel, m.token) for m in drive.messages()]
        assert ts == sorted(ts) and len(ts) == 12 and _by(drive, "os_top")[2].token == "os_top#2"
        assert _by(drive, "os_top")[1].timestamp == (T0 + LIDAR_DT) // 1000
        assert drive.keyframes() == {}
        sample = assemble(drive, _selection(drive, 2), CFG)
        assert sorted(sample.meta.missing) == sorted([*CAMERAS[1:], *RADARS[1:]])
        assert all(v.startswith("absent:") for v in sample.meta.missing.values())
        assert sample.cameras is not None and sample.cameras.present.tolist() == [True] + [False] * 5
        assert sample.lidar is not None and len(sample.lidar) > 100
        lags = np.unique(sample.lidar.points[:, 4])
        np.testing.assert_allclose(lags, [0.0, 0.1], atol=1e-6)  # two sweeps: this one and the previous
        np.testing.assert_allclose(sample.meta.ego_from_ref, EGO_FROM_OS.matrix, atol=1e-12)
        radar = drive.read_radar(_by(drive, "RADAR_FRONT")[0])
        np.testing.assert_allclose(radar[0, 3:5], [0, 0], atol=1e-4)  # static target: compensated to 0
        np.testing.assert_allclose(radar[0, :2], 15 * np.array([np.cos(0.2), np.sin(0.2)]), rtol=1e-5)
        assert radar[0, 5] == 20.0
        cam = drive.read_camera(_by(drive, "CAM_FRONT")[1])
        np.testing.assert_array_equal(cam.intrinsics, K)
        assert cam.size == (160, 90) and cam.encoded is not None and cam.encoded[:2] == b"\xff\xd8"


def test_deskew_through_the_drive(other_bag: Path) -> None:
    """A rotating sweep recorded while driving at 10 m/s: read through BagDrive it equals the world seen
    from the sensor frozen at the stamp (deskewed); with ``deskew: false`` the raw, sheared points come back."""
    stamp = T0 + LIDAR_DT
    exact = frozen_sweep(stamp)
    raw = rotating_sweep(stamp)[0][:, :3]
    assert np.abs(raw - exact).max() > 0.5  # up to one sweep of motion: ~1 m
    with open_drive(other_bag, _rig()) as drive:
        got = drive.read_lidar(_by(drive, "os_top")[1])
    assert got.dtype == np.float32 and got.shape == (len(exact), 4)
    np.testing.assert_allclose(got[:, :3], exact, atol=1e-4)
    with open_drive(other_bag, _rig(**{"time_field: t": "time_field: t\n    deskew: false"})) as drive:
        np.testing.assert_array_equal(drive.read_lidar(_by(drive, "os_top")[1])[:, :3], raw)
    with open_drive(other_bag, _rig(**{"time_field: t": "time_field: none"})) as drive:
        np.testing.assert_array_equal(drive.read_lidar(_by(drive, "os_top")[1])[:, :3], raw)


def test_poses_history_cache_and_pickle(other_bag: Path) -> None:
    """global_from_sensor = odometry at the exact stamp @ /tf_static; history newest first; a decoded
    payload is cached (bounded); a pickled copy reopens the file and reads the same."""
    with open_drive(other_bag, _rig(), cache_items=2) as drive:
        lidar = _by(drive, "os_top")
        np.testing.assert_allclose(
            drive.global_from_sensor(lidar[3]).matrix,
            (ego_pose(T0 + 3 * LIDAR_DT) @ EGO_FROM_OS).matrix,
            atol=1e-9,
        )
        assert [m.token for m in drive.history(lidar[3], 3)] == ["os_top#3", "os_top#2", "os_top#1"]
        assert [m.token for m in drive.history(lidar[1], 5)] == ["os_top#1", "os_top#0"]
        first = drive.read_lidar(lidar[0])
        assert drive.read_lidar(lidar[0]) is first  # cached
        drive.read_lidar(lidar[1])
        drive.read_lidar(lidar[2])
        assert drive.read_lidar(lidar[0]) is not first and len(drive._cache) == 2  # evicted, re-read
        copy = pickle.loads(pickle.dumps(drive))
        np.testing.assert_array_equal(copy.read_lidar(lidar[2]), drive.read_lidar(lidar[2]))
        copy.close()
        with pytest.raises(DataError, match="not in this drive"):
            drive.read_lidar(Message("os_top", 0, "nope"))


def test_ground_truth_in_another_frame(tmp_path: Path) -> None:
    """Annotations written in base_link come back in the global frame; the keyframes are the reference
    messages with an array at their stamp; a box of an unknown class is dropped and counted."""
    path = tmp_path / "gt.mcap"
    write_other_rig_bag(path, frames=2, boxes_frame="base_link")
    with open_drive(path, _rig("annotations: /nothing\n")) as drive:
        assert drive.keyframes() == {} and "annotations topic /nothing is absent" in drive.notes[0]
    with open_drive(path, _rig("annotations: /gt\n")) as drive:
        lidar = _by(drive, "os_top")
        assert drive.keyframes() == {"os_top#0": "os_top#0", "os_top#1": "os_top#1"}
        assert lidar[1].is_key_frame
        gt = drive.ground_truth(lidar[1])
        assert gt is not None and len(gt) == 1 and drive.dropped_boxes == {"alien": 1}
        assert gt.boxes.dtype == np.float64 and gt.labels.tolist() == [CLASS_INDEX["car"]]
        np.testing.assert_allclose(gt.boxes[0, :3], BOX[0, :3] + [SPEED * 0.1, 0, 0], atol=1e-9)
        assert gt.attributes[0] >= 0 and gt.num_lidar_pts.tolist() == [-1]
        assert drive.ground_truth(_by(drive, "CAM_FRONT")[0]) is None
        sample = assemble(drive, Selection(lidar[1], {"os_top": lidar[1]}, ground_truth=True), CFG)
        assert sample.gt is not None and len(sample.gt) == 1  # unknown point counts are kept


def _info(path: Path, rig: str | None = None) -> tuple[int, str]:
    from sensorfuse.sources import cli

    parser = argparse.ArgumentParser(prog="sensorfuse drive")
    cli.add_arguments(parser)
    args = parser.parse_args(["info", str(path), *(["--rig", rig] if rig else [])])
    args.command = "drive"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.run(args)
    return rc, out.getvalue()


def test_drive_info_reports_what_the_rig_resolves(other_bag: Path, tmp_path: Path) -> None:
    """``sensorfuse drive info``: topics, rates, the rig's sensors with frame, intrinsics, per-point time
    rule and deskew; exit 0 when everything resolves."""
    rig = tmp_path / "car.yaml"
    rig.write_text(OTHER_RIG)
    rc, text = _info(other_bag, str(rig))
    assert rc == 0, text
    assert "/ouster/points" in text and "sensor_msgs/msg/PointCloud2" in text and "10.00" in text
    assert "per-point time: 't' read as ns; deskew on" in text
    assert "intrinsics: /front/camera_info (4 messages); 160x90 fx=200.0" in text
    assert "velocity compensated" in text and "odometry /odom: ok" in text and "car.yaml" in text


# ------------------------------------------------------------------------------------------ bad input


def test_truncated_mcap_replays_what_it_holds(tmp_path: Path) -> None:
    """class: truncated input — an MCAP cut before its summary: BagDrive reads the complete messages by
    scanning, assembles them, and drive info says TRUNCATED."""
    path = tmp_path / "full.mcap"
    write_other_rig_bag(path, frames=30, chunk_size=4096)  # many small chunks: the cut keeps some
    data = path.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with open_drive(cut, _rig()) as drive:
        assert drive.info.truncated
        n = len(_by(drive, "os_top"))
        assert 2 <= n < 30
        sample = assemble(drive, _selection(drive, 1), CFG)
        assert sample.lidar is not None and len(sample.lidar) > 100
    rig = tmp_path / "car.yaml"
    rig.write_text(OTHER_RIG)
    assert "TRUNCATED" in _info(cut, str(rig))[1]


def test_unknown_type_skipped_and_counted(tmp_path: Path) -> None:
    """class: silent drop — a topic of an unknown type is listed and its messages skipped and counted;
    a rig sensor on it is left out with the reason (absent in the sample), never a crash."""
    path = tmp_path / "acme.mcap"
    write_other_rig_bag(path, frames=2, unknown_topic=True)
    extra = (
        "  ACME:\n    modality: lidar\n    topic: /acme\n  GHOST:\n    modality: radar\n    topic: /nowhere\n"
    )
    with open_drive(path, _rig(extra)) as drive:
        assert "ACME" not in drive.sensors and "does not decode" in drive.problems["ACME"]
        assert (
            drive.problems["GHOST"] == "topic /nowhere is not in the recording"
            and "GHOST" not in drive.sensors
        )
        assert "/acme" in drive.info.unknown and drive.info.unknown["/acme"].count == 3
        cfg = SampleConfig(
            **{**CFG.__dict__, "lidars": ("os_top", "ACME"), "radars": ("RADAR_FRONT", "GHOST")}
        )
        sample = assemble(drive, _selection(drive, 1), cfg)
        assert sample.meta.missing["ACME"].startswith("absent") and sample.meta.missing["GHOST"].startswith(
            "absent"
        )
    rig = tmp_path / "acme.yaml"
    rig.write_text(OTHER_RIG + extra)
    rc, text = _info(path, str(rig))
    assert rc == 1 and "unknown types: 1 topics, 3 messages skipped (/acme)" in text and "NOT READ" in text


def test_missing_tf_static_for_a_sensor_frame(tmp_path: Path) -> None:
    """class: bad calibration — /tf_static lacks the camera's frame: reading it is a DataError naming the
    file, topic and frame (reason "bad calibration"); with drop_sensor the camera is dropped and counted;
    drive info shows it up front."""
    path = tmp_path / "nocam.mcap"
    write_other_rig_bag(path, frames=2, static_frames=("os_lidar", "radar"))
    with open_drive(path, _rig()) as drive:
        with pytest.raises(DataError) as e:
            drive.global_from_sensor(_by(drive, "CAM_FRONT")[0])
        assert e.value.reason == "bad calibration" and e.value.field == "/tf_static"
        assert "nocam.mcap:/front/image/compressed" in str(
            e.value
        ) and "missing /tf_static for frame cam" in str(e.value)
        sample = assemble(drive, _selection(drive, 1), CFG)
        assert sample.meta.missing["CAM_FRONT"].startswith("bad calibration:") and sample.cameras is None
        assert sample.lidar is not None and sample.radar is not None
        with pytest.raises(DataError, match="missing /tf_static"):
            assemble(drive, _selection(drive, 1), SampleConfig(**{**CFG.__dict__, "on_missing": "raise"}))
        assert set(drive.calibration_problems()) == {"CAM_FRONT"}
    rig = tmp_path / "car.yaml"
    rig.write_text(OTHER_RIG)
    rc, text = _info(path, str(rig))
    assert rc == 1 and "cam: MISSING: bad calibration" in text


def test_pointcloud_without_xyz(tmp_path: Path) -> None:
    """class: bad input — a PointCloud2 whose fields lack x: a DataError naming file, topic and field."""
    path = tmp_path / "noxyz.mcap"
    write_other_rig_bag(path, frames=1, lidar_fields=("a", "y", "z", "intensity", "t"))
    with open_drive(path, _rig()) as drive:
        with pytest.raises(DataError) as e:
            drive.read_lidar(_by(drive, "os_top")[0])
        assert (
            e.value.field == "x"
            and "noxyz.mcap:/ouster/points" in str(e.value)
            and "no field 'x'" in str(e.value)
        )


def test_camera_info_with_zero_focal_length(tmp_path: Path) -> None:
    """class: bad calibration — a CameraInfo with fx = fy = 0: reading the camera is a DataError naming the
    file, the camera_info topic and field k; the camera is dropped and counted under drop_sensor."""
    path = tmp_path / "zero.mcap"
    write_other_rig_bag(path, frames=2, focal=0.0)
    with open_drive(path, _rig()) as drive:
        with pytest.raises(DataError) as e:
            drive.read_camera(_by(drive, "CAM_FRONT")[0])
        assert e.value.reason == "bad calibration" and e.value.field == "k"
        assert "zero.mcap:/front/camera_info" in str(e.value) and "focal lengths must be > 0" in str(e.value)
        sample = assemble(drive, _selection(drive, 1), CFG)
        assert sample.meta.missing["CAM_FRONT"].startswith("bad calibration")


def test_nonfinite_points_dropped_and_counted(tmp_path: Path) -> None:
    """class: silent drop — NaN rows of a PointCloud2 are dropped and counted per sensor (never silently)."""
    path = tmp_path / "nan.mcap"
    write_other_rig_bag(path, frames=2, nan_points=5)
    with open_drive(path, _rig()) as drive:
        pts = drive.read_lidar(_by(drive, "os_top")[0])
        drive.read_lidar(_by(drive, "os_top")[0])  # a second read is not counted twice
        drive.read_lidar(_by(drive, "os_top")[1])
        assert np.isfinite(pts).all() and len(pts) == len(frozen_sweep(T0)) - 5
        assert drive.dropped_point_counts() == {"os_top": 10}


def test_rig_problems_at_open(tmp_path: Path, other_bag: Path) -> None:
    """class: bad config — an odometry topic that is absent, or a reference whose topic is absent, is a
    DataError at open naming the file and what is missing; a missing recording too."""
    with pytest.raises(DataError, match=r"odometry topic /nav is absent") as e:
        open_drive(other_bag, _rig(**{"odometry: /odom": "odometry: /nav"}))
    assert "other.mcap" in str(e.value)
    with pytest.raises(DataError, match=r"reference sensor 'os_top' cannot be read: topic /lidar is not in"):
        open_drive(other_bag, _rig(**{"/ouster/points": "/lidar"}))
    with pytest.raises(DataError) as e:
        open_drive(tmp_path / "nothing.mcap")
    assert e.value.reason == "missing file"
