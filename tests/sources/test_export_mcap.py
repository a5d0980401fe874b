"""A nuScenes-format scene exported to MCAP (ROS 2 CDR), a rosbag2 .db3 folder and the Foxglove layout,
then read back through BagDrive with no rig file: the same tokens, keyframes and assembled samples."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from drive_fixtures import OTHER_RIG, nuscenes_drive, write_other_rig_bag

from sensorfuse.data.assemble import Selection, assemble
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.bag_drive import open_drive
from sensorfuse.sources.drive_rig import derive_rig
from sensorfuse.sources.export_mcap import export_drive
from sensorfuse.structures import SensorSample
from sensorfuse.sync.core import Message

CFG = SampleConfig(lidar_sweeps=3, radar_sweeps=2, image_size=(64, 128))
SCENE = "scene-0103"


@pytest.fixture(scope="module")
def scene_drive(synth_world: tuple[Path, str]) -> Any:
    root, version = synth_world
    return nuscenes_drive(root, version, SCENE)


def _lidar_keyframes(drive: Any) -> list[tuple[str, str]]:
    """(LIDAR_TOP keyframe token, sample token) of each sample."""
    lidar = {m.token for m in drive.messages() if m.channel == "LIDAR_TOP"}
    return [(t, s) for t, s in drive.keyframes().items() if t in lidar]


def _keyframe_selection(drive: Any, ref_token: str, sample: str) -> Selection:
    msgs = drive.messages()
    ref = next(m for m in msgs if m.token == ref_token)
    chosen: dict[str, Message] = {}
    for m in msgs:  # each sensor's keyframe message of this sample (nearest to the reference)
        if m.is_key_frame and m.channel not in chosen and abs(m.timestamp - ref.timestamp) < 100_000:
            chosen[m.channel] = m
    return Selection(ref, chosen, sample_token=sample, ground_truth=True)


def _same_sample(a: SensorSample, b: SensorSample, gt: bool = True) -> None:
    assert a.lidar is not None and b.lidar is not None and a.radar is not None and b.radar is not None
    np.testing.assert_array_equal(a.lidar.points, b.lidar.points)  # bit-identical float32
    np.testing.assert_array_equal(a.radar.points, b.radar.points)
    assert a.cameras is not None and b.cameras is not None
    np.testing.assert_array_equal(a.cameras.images, b.cameras.images)  # the same JPEG bytes decoded
    np.testing.assert_array_equal(a.cameras.intrinsics, b.cameras.intrinsics)
    np.testing.assert_array_equal(a.cameras.present, b.cameras.present)
    np.testing.assert_allclose(a.cameras.cam_from_ref, b.cameras.cam_from_ref, atol=1e-6)
    np.testing.assert_allclose(a.meta.global_from_ref, b.meta.global_from_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.meta.ego_from_ref, b.meta.ego_from_ref, rtol=0, atol=1e-12)
    assert a.meta.missing == b.meta.missing == {}
    if gt:
        assert a.gt is not None and b.gt is not None and len(a.gt) == len(b.gt) > 0
        np.testing.assert_allclose(a.gt.boxes, b.gt.boxes, atol=1e-5)
        for f in ("labels", "attributes", "num_lidar_pts", "num_radar_pts"):
            np.testing.assert_array_equal(getattr(a.gt, f), getattr(b.gt, f))
        assert a.gt.tokens == b.gt.tokens


@pytest.mark.parametrize(("container", "name"), [("mcap", "scene.mcap"), ("db3", "scene_bag")])
def test_round_trip_same_samples(scene_drive: Any, tmp_path: Path, container: str, name: str) -> None:
    """class: undetected corruption — export → BagDrive (no rig file: the embedded one) gives the nuScenes
    drive's tokens, keyframes → sample tokens, and at every keyframe the same assembled sample: identical
    float32 LiDAR/radar points, images and K, poses equal to float64 round-off, the same ground truth."""
    out = tmp_path / name
    report = export_drive(scene_drive, out, container=container, progress=False)
    msgs = scene_drive.messages()
    per_channel = {c: sum(m.channel == c for m in msgs) for c in scene_drive.sensors}
    assert report.counts["/LIDAR_TOP"] == per_channel["LIDAR_TOP"]
    assert report.counts["/CAM_FRONT/image_rect_compressed"] == report.counts["/CAM_FRONT/camera_info"]
    assert report.counts["/gt/boxes"] == len(set(scene_drive.keyframes().values())) > 0  # one per sample
    assert report.counts["/tf"] == len({m.timestamp for m in msgs}) and report.counts["/tf_static"] == 1
    with open_drive(out) as bag:
        assert "embedded" in bag.rig.source and bag.name == SCENE and bag.reference == "LIDAR_TOP"
        assert list(bag.sensors) == [n for n in scene_drive.sensors if n in bag.sensors]  # the drive's order
        assert [(m.timestamp, m.channel, m.token, m.is_key_frame) for m in bag.messages()] == [
            (m.timestamp, m.channel, m.token, m.is_key_frame) for m in msgs
        ]
        assert dict(bag.keyframes()) == dict(scene_drive.keyframes())
        for ref_token, sample in _lidar_keyframes(scene_drive):
            sel = _keyframe_selection(scene_drive, ref_token, sample)
            _same_sample(assemble(scene_drive, sel, CFG), assemble(bag, sel, CFG))
        lidar = next(m for m in msgs if m.channel == "LIDAR_TOP")
        assert [m.token for m in bag.history(lidar, 3)] == [m.token for m in scene_drive.history(lidar, 3)]


def test_foxglove_layout_replays(scene_drive: Any, tmp_path: Path) -> None:
    """The Foxglove protobuf layout (PointCloud, CompressedImage, CameraCalibration, FrameTransforms on /tf
    with the extrinsics once) assembles to the same samples; it carries no ground truth (noted)."""
    out = tmp_path / "fox.mcap"
    report = export_drive(scene_drive, out, container="foxglove", progress=False)
    assert "ground truth is not written" in report.notes[0] and "/gt/boxes" not in report.counts
    with open_drive(out) as bag:
        assert bag.info.topics["/LIDAR_TOP"].type == "foxglove.PointCloud"
        assert dict(bag.keyframes()) == dict(scene_drive.keyframes())  # sample tokens, no boxes
        assert bag.ground_truth(next(m for m in bag.messages() if m.is_key_frame)) is None
        derived = derive_rig(bag.info)  # the layout alone (no embedded rig) gives the same sensors
        assert {n: (s.modality, s.topic, s.info_topic) for n, s in derived.sensors.items()} == {
            n: (s.modality, s.topic, s.info_topic) for n, s in bag.rig.sensors.items()
        }
        assert derived.reference == "LIDAR_TOP"
        ref_token, sample = _lidar_keyframes(scene_drive)[0]
        sel = _keyframe_selection(scene_drive, ref_token, sample)
        _same_sample(assemble(scene_drive, sel, CFG), assemble(bag, sel, CFG), gt=False)


class _Faulty:
    """A drive whose one LiDAR message does not read, or whose extrinsics drift."""

    def __init__(self, inner: Any, bad: str = "", drift: bool = False) -> None:
        self.inner, self.bad, self.drift = inner, bad, drift

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_lidar(self, msg: Message) -> np.ndarray:
        if msg.token == self.bad:
            raise DataError("sweeps/x.pcd.bin", "truncated", "points", reason="truncated")
        return self.inner.read_lidar(msg)

    def ego_from_sensor(self, msg: Message) -> Transform:
        e = self.inner.ego_from_sensor(msg)
        shift = np.array([msg.timestamp % 7 * 1e-3, 0, 0])
        return Transform.from_rt(e.rotation, e.translation + shift) if self.drift else e


def test_bad_payload_aborts_or_is_skipped_and_counted(scene_drive: Any, tmp_path: Path) -> None:
    """class: half-written output / silent drop — a payload that does not read aborts the export (nothing
    at the target, no temporary left); with skip_bad it is skipped, counted, and the token map describes
    what was written."""
    lidar = [m for m in scene_drive.messages() if m.channel == "LIDAR_TOP"]
    faulty = _Faulty(scene_drive, bad=lidar[1].token)
    with pytest.raises(DataError, match="truncated"):
        export_drive(faulty, tmp_path / "x.mcap", progress=False)
    assert list(tmp_path.iterdir()) == []
    report = export_drive(faulty, tmp_path / "x.mcap", skip_bad=True, progress=False)
    assert (
        report.skipped == {"LIDAR_TOP": {"truncated": 1}}
        and "skipped LIDAR_TOP: 1 (truncated)" in report.format()
    )
    with open_drive(tmp_path / "x.mcap") as bag:
        got = [m.token for m in bag.messages() if m.channel == "LIDAR_TOP"]
        assert got == [m.token for m in lidar if m.token != lidar[1].token] and not bag.notes


def test_drifting_extrinsics_are_an_error(scene_drive: Any, tmp_path: Path) -> None:
    """class: bad calibration — a sensor whose mounting changes within the drive cannot be written to
    /tf_static: a DataError naming the sensor, before anything is written."""
    with pytest.raises(DataError, match=r"extrinsics of \w+ change within") as e:
        export_drive(_Faulty(scene_drive, drift=True), tmp_path / "d.mcap", progress=False)
    assert e.value.reason == "bad calibration" and not (tmp_path / "d.mcap").exists()
    with pytest.raises(ConfigError, match="container 'zip'"):
        export_drive(scene_drive, tmp_path / "d.zip", container="zip", progress=False)


def _export_cli(argv: list[str]) -> int:
    """``sensorfuse export ...`` as the CLI parses it (SensorfuseErrors propagate, unlike ``main``)."""
    from sensorfuse import export_cli

    parser = argparse.ArgumentParser(prog="sensorfuse export")
    export_cli.add_arguments(parser)
    return export_cli.run(parser.parse_args(argv))


def test_export_cli_converts_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sensorfuse export mcap --drive FILE --rig RIG --container db3``: another rig's recording becomes a
    rosbag2 folder that replays with no rig (its LiDAR already deskewed: the points are equal)."""
    src = tmp_path / "other.mcap"
    write_other_rig_bag(src, frames=2)
    rig = tmp_path / "car.yaml"
    rig.write_text(OTHER_RIG)
    out = tmp_path / "converted"
    rc = _export_cli(
        [
            "mcap",
            "--drive",
            str(src),
            "--rig",
            str(rig),
            "--container",
            "db3",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0 and "/ouster/points" not in capsys.readouterr().out  # topics of the export layout
    with open_drive(src, rig) as a, open_drive(out) as b:
        assert b.reference == "os_top" and set(b.sensors) == set(a.sensors)
        for m in a.messages():
            if m.modality == "lidar":
                np.testing.assert_array_equal(a.read_lidar(m), b.read_lidar(m))
            if m.modality == "radar":
                np.testing.assert_array_equal(a.read_radar(m), b.read_radar(m))
    with pytest.raises(ConfigError, match="either --dataroot"):
        _export_cli(["mcap", "--out", str(tmp_path / "y.mcap")])


def test_export_cli_from_a_dataroot(synth_world: tuple[Path, str], tmp_path: Path) -> None:
    """``sensorfuse export mcap --dataroot D --scene A B --out DIR``: one recording per scene, named after it."""
    root, version = synth_world
    rc = _export_cli(
        ["mcap", "--dataroot", str(root), "--version", version, "--scene", SCENE, "scene-0916",
         "--out", str(tmp_path / "out"), "--no-progress"]
    )  # fmt: skip
    assert rc == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "scene-0103.mcap",
        "scene-0916.mcap",
    ]
    with open_drive(tmp_path / "out" / "scene-0916.mcap") as bag:
        assert bag.name == "scene-0916" and bag.keyframes()
    with pytest.raises(ConfigError, match="needs --scene"):
        _export_cli(["mcap", "--dataroot", str(root), "--out", str(tmp_path / "x.mcap")])
