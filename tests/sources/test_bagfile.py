"""Recordings written and read back: every message kind through MCAP (ROS 2 CDR), rosbag2 .db3, Foxglove
MCAP and ROS 1; unknown types skipped and counted; truncated and damaged files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from mcap.writer import Writer as RawMcapWriter

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.sources import foxglove_msgs as fx
from sensorfuse.sources import ros_build as rb
from sensorfuse.sources.bag_writer import FoxgloveMcapWriter, open_writer
from sensorfuse.sources.bagfile import open_bag, read_tf
from sensorfuse.sources.markers import boxes_from_markers, marker_array
from sensorfuse.sources.ros_images import (
    camera_info,
    compressed_to_rgb,
    image_to_rgb,
)
from sensorfuse.sources.ros_msgs import (
    StampedTransform,
    lidar_from_pointcloud2,
    pose_from_odometry,
)
from sensorfuse.sources.ros_radar import (
    radar_from_pointcloud2,
    radar_from_radarscan,
)

T0 = 1_700_000_000_000_000_000
DT = 100_000_000  # 10 Hz
K = np.array([[400.0, 0, 160], [0, 400, 90], [0, 0, 1]])
EGO_FROM_LIDAR = Transform.from_quat(yaw_to_quat(np.pi / 2), [0.9, 0.0, 1.8])
EGO_FROM_CAM = Transform.from_quat([0.5, -0.5, 0.5, -0.5], [1.5, 0.0, 1.5])


def _lidar(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    pts = rng.normal(0, 15, (200, 5)).astype(np.float32)
    pts[:, 4] = np.sort(rng.integers(0, 99_000_000, 200))  # Ouster-style uint32 ns offsets
    return pts


def _jpeg(i: int) -> bytes:
    img = np.full((90, 160, 3), (20 * i, 120, 200), np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _pose(i: int) -> Transform:
    return Transform.from_quat(yaw_to_quat(0.05 * i), [2.0 * i, 0.1 * i, 0.0])


RADAR = np.array([[10.0, 1.0, 0.5, -3.0, 12.0], [30.0, -5.0, 0.2, 1.5, 4.0]])
POLAR = np.array([[12.0, 0.3, 0.0, -1.0, 15.0]])
BOXES = np.array([[5, 1, 0.8, 4.4, 1.9, 1.6, 0.3, 2.0, 0.5]], np.float32)


def write_ros2_drive(path: Path, container: str, frames: int = 3) -> None:
    """Every ROS 2 message kind sensorfuse reads, ``frames`` times at 10 Hz."""
    with open_writer(path, container) as w:
        static = [
            StampedTransform("base_link", "lidar", T0, EGO_FROM_LIDAR),
            StampedTransform("base_link", "cam", T0, EGO_FROM_CAM),
        ]
        w.write("/tf_static", "tf2_msgs/msg/TFMessage", rb.tf_message(static), T0)
        for i in range(frames):
            t = T0 + i * DT
            w.write(
                "/lidar",
                "sensor_msgs/msg/PointCloud2",
                rb.pointcloud2(
                    _lidar(i), ["x", "y", "z", "intensity", "t"], t, "lidar", ["f4", "f4", "f4", "f4", "u4"]
                ),
                t,
            )
            w.write(
                "/radar",
                "sensor_msgs/msg/PointCloud2",
                rb.pointcloud2(RADAR, ["x", "y", "z", "doppler", "rcs"], t, "radar"),
                t + 1,
            )
            w.write("/radar_scan", "radar_msgs/msg/RadarScan", rb.radar_scan(POLAR, t, "radar2"), t + 2)
            w.write(
                "/cam/image/compressed",
                "sensor_msgs/msg/CompressedImage",
                rb.compressed_image(_jpeg(i), t, "cam"),
                t + 3,
            )
            w.write(
                "/cam/image_raw",
                "sensor_msgs/msg/Image",
                rb.image(np.full((4, 6, 3), i, np.uint8), t, "cam"),
                t + 3,
            )
            w.write(
                "/cam/camera_info", "sensor_msgs/msg/CameraInfo", rb.camera_info(K, 160, 90, t, "cam"), t + 4
            )
            w.write(
                "/tf",
                "tf2_msgs/msg/TFMessage",
                rb.tf_message([StampedTransform("map", "base_link", t, _pose(i))]),
                t + 5,
            )
            w.write("/odom", "nav_msgs/msg/Odometry", rb.odometry(_pose(i), t, velocity=(20.0, 0, 0)), t + 6)
            w.write(
                "/detections",
                "visualization_msgs/msg/MarkerArray",
                marker_array(BOXES, ["car"], np.array([0.7]), t, "lidar"),
                t + 7,
            )


@pytest.mark.parametrize(("container", "name"), [("mcap", "drive.mcap"), ("db3", "drive_bag")])
def test_ros2_roundtrip_every_kind(tmp_path: Path, container: str, name: str) -> None:
    """Write → read for each message kind: the arrays come back equal, in log-time order."""
    path = tmp_path / name
    write_ros2_drive(path, container)
    with open_bag(path) as bag:
        info = bag.info()
        assert not info.truncated and info.message_count == 1 + 3 * 9
        assert (
            info.topics["/lidar"].type == "sensor_msgs/msg/PointCloud2"
            and info.topics["/lidar"].kind == "pointcloud"
        )
        assert info.topics["/radar_scan"].kind == "radar_scan" and not info.unknown
        assert info.rate_hz("/lidar") == pytest.approx(10.0, rel=1e-6)
        assert "/detections" in info.format() and "visualization_msgs/msg/MarkerArray" in info.format()
        times, seen = [], {}
        for m in bag.messages():
            times.append(m.log_time_ns)
            seen.setdefault(m.topic, []).append(m)
        assert times == sorted(times) and len(times) == info.message_count
        for i, m in enumerate(seen["/lidar"]):
            scan = lidar_from_pointcloud2(m.decode(), m.where)
            np.testing.assert_array_equal(scan.points, _lidar(i)[:, :4])
            np.testing.assert_allclose(scan.time_offset, _lidar(i)[:, 4] * 1e-9, rtol=1e-6)
            assert scan.time_rule == "ns" and scan.stamp_ns == T0 + i * DT and scan.frame_id == "lidar"
        radar = radar_from_pointcloud2(seen["/radar"][0].decode(), "w")
        np.testing.assert_allclose(radar.points[:, :3], RADAR[:, :3], rtol=1e-6)
        np.testing.assert_allclose(radar.points[:, 5], RADAR[:, 4], rtol=1e-6)
        scan2 = radar_from_radarscan(seen["/radar_scan"][1].decode(), "w")
        np.testing.assert_allclose(scan2.points[0, :2], 12 * np.array([np.cos(0.3), np.sin(0.3)]), rtol=1e-6)
        img = compressed_to_rgb(seen["/cam/image/compressed"][2].decode().data, "w")
        assert (
            img.shape == (90, 160, 3) and np.abs(img[45, 80].astype(int) - (200, 120, 40)).max() <= 3
        )  # BGR written
        np.testing.assert_array_equal(
            image_to_rgb(seen["/cam/image_raw"][2].decode(), "w"), np.full((4, 6, 3), 2, np.uint8)
        )
        np.testing.assert_array_equal(camera_info(seen["/cam/camera_info"][0].decode(), "w").intrinsics, K)
        np.testing.assert_allclose(
            pose_from_odometry(seen["/odom"][2].decode(), "w").transform.matrix, _pose(2).matrix, atol=1e-12
        )
        np.testing.assert_allclose(
            boxes_from_markers(seen["/detections"][0].decode(), "w").boxes, BOXES, atol=1e-6
        )
        tf = read_tf(bag)
        np.testing.assert_allclose(tf.lookup("base_link", "lidar").matrix, EGO_FROM_LIDAR.matrix, atol=1e-12)
        np.testing.assert_allclose(
            tf.lookup("map", "cam", T0 + DT).matrix, (_pose(1) @ EGO_FROM_CAM).matrix, atol=1e-9
        )
        assert seen["/radar"][1].sensor_time_ns() == T0 + DT and seen["/radar"][1].log_time_ns == T0 + DT + 1
        assert seen["/tf"][1].sensor_time_ns() == seen["/tf"][1].log_time_ns  # no header: the log time
        window = [m.topic for m in bag.messages(["/lidar", "/odom"], start_ns=T0 + DT, stop_ns=T0 + 2 * DT)]
        assert window == ["/lidar", "/odom"]


def test_writer_is_atomic(tmp_path: Path) -> None:
    """class: half-written output — an exception inside the writer leaves no file and no temporary."""
    for container, name in (("mcap", "x.mcap"), ("db3", "xbag")):
        with pytest.raises(RuntimeError), open_writer(tmp_path / name, container) as w:
            w.write("/tf_static", "tf2_msgs/msg/TFMessage", rb.tf_message([]), T0)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_ros2_drive(tmp_path / "bag", "db3", frames=1)
    with pytest.raises(DataError, match="already exists"):
        open_writer(tmp_path / "bag", "db3")
    from sensorfuse.sources.bag_writer import Rosbag2Writer

    with Rosbag2Writer(tmp_path / "bag", overwrite=True) as w2:
        w2.write("/tf_static", "tf2_msgs/msg/TFMessage", rb.tf_message([]), T0)
    with open_bag(tmp_path / "bag") as bag:
        assert set(bag.info().topics) == {"/tf_static"}
    assert [p.name for p in tmp_path.iterdir()] == ["bag"]


def test_foxglove_mcap_roundtrip(tmp_path: Path) -> None:
    """The nuScenes→MCAP layout in Foxglove protobuf: PointCloud (LiDAR, radar), CompressedImage,
    CameraCalibration, FrameTransforms on /tf (static extrinsics republished, moving ego)."""
    path = tmp_path / "fox.mcap"
    radar_cols = np.array([[10.0, 1.0, 0.5, 7.0, 1.5, -0.5], [20.0, 2.0, 0.1, 3.0, 0.0, 0.0]])
    with FoxgloveMcapWriter(path) as w:
        for i in range(3):
            t = T0 + i * DT
            w.write(
                "/LIDAR_TOP",
                fx.build_pointcloud(_lidar(i)[:, :4], ["x", "y", "z", "intensity"], t, "LIDAR_TOP"),
                t,
            )
            w.write(
                "/RADAR_FRONT",
                fx.build_pointcloud(
                    radar_cols, ["x", "y", "z", "rcs", "vx_comp", "vy_comp"], t, "RADAR_FRONT"
                ),
                t,
            )
            w.write(
                "/CAM_FRONT/image_rect_compressed", fx.build_compressed_image(_jpeg(i), t, "CAM_FRONT"), t
            )
            w.write("/CAM_FRONT/camera_info", fx.build_calibration(K, 160, 90, t, "CAM_FRONT"), t)
            edges = [
                StampedTransform("base_link", "LIDAR_TOP", t, EGO_FROM_LIDAR),
                StampedTransform("map", "base_link", t, _pose(i)),
            ]
            w.write("/tf", fx.build_frame_transforms(edges), t)
    with open_bag(path) as bag:
        info = bag.info()
        assert (
            info.topics["/LIDAR_TOP"].type == "foxglove.PointCloud"
            and info.topics["/LIDAR_TOP"].encoding == "protobuf"
        )
        assert {t.kind for t in info.topics.values()} == {
            "pointcloud",
            "compressed_image",
            "camera_info",
            "tf",
        }
        msgs = {}
        for m in bag.messages():
            msgs.setdefault(m.topic, []).append(m.decode())
        first = next(iter(bag.messages(["/CAM_FRONT/camera_info"])))
        assert first.sensor_time_ns() == T0
        lidar = fx.lidar_from_foxglove(msgs["/LIDAR_TOP"][1], "w")
        np.testing.assert_array_equal(lidar.points, _lidar(1)[:, :4])
        assert lidar.stamp_ns == T0 + DT and lidar.time_offset is None
        radar = fx.radar_from_foxglove(msgs["/RADAR_FRONT"][0], "w")
        np.testing.assert_allclose(radar.points[:, :6], radar_cols[:, [0, 1, 2, 4, 5, 3]], rtol=1e-6)
        cal = fx.calibration_from_foxglove(msgs["/CAM_FRONT/camera_info"][0], "w")
        np.testing.assert_array_equal(cal.intrinsics, K)
        assert compressed_to_rgb(msgs["/CAM_FRONT/image_rect_compressed"][0].data, "w").shape == (90, 160, 3)
        tf = read_tf(bag)
        np.testing.assert_allclose(
            tf.lookup("base_link", "LIDAR_TOP", 0).matrix, EGO_FROM_LIDAR.matrix, atol=1e-12
        )  # promoted to static
        np.testing.assert_allclose(
            tf.lookup("map", "base_link", T0 + 2 * DT).matrix, _pose(2).matrix, atol=1e-9
        )


def _raw_mcap(
    path: Path, channels: list[tuple[str, str, str, bytes, str]], payloads: dict[str, list[bytes]]
) -> None:
    """An MCAP written channel by channel: (topic, schema name, schema encoding, schema data, message encoding)."""
    with path.open("wb") as f:
        w = RawMcapWriter(f)
        w.start(profile="ros2", library="test")
        ids = {}
        for topic, name, senc, data, menc in channels:
            sid = w.register_schema(name, senc, data)
            ids[topic] = w.register_channel(topic, menc, sid)
        for k in range(3):
            for topic, items in payloads.items():
                w.add_message(ids[topic], log_time=T0 + k, publish_time=T0 + k, data=items[k % len(items)])
        w.finish()


def test_unknown_types_skipped_and_counted(tmp_path: Path) -> None:
    """class: silent drop — JSON, a type without definition and a definition that does not parse are
    reported by info() and skipped-and-counted by messages(); a custom type with a stored definition decodes."""
    store = rb.writer_typestore()
    pc2 = rb.pointcloud2(_lidar(0), ["x", "y", "z", "intensity", "t"], T0, "lidar")
    pc2_def = store.generate_msgdef("sensor_msgs/msg/PointCloud2", ros_version=2)[0].encode()
    ping = b"\x00\x01\x00\x00" + np.int32(42).tobytes()  # CDR little-endian header + int32
    path = tmp_path / "mixed.mcap"
    _raw_mcap(
        path,
        [
            ("/lidar", "sensor_msgs/msg/PointCloud2", "ros2msg", pc2_def, "cdr"),
            ("/ping", "acme_msgs/msg/Ping", "ros2msg", b"int32 value\n", "cdr"),
            ("/json", "acme.Status", "jsonschema", b"{}", "json"),
            ("/blob", "acme_msgs/msg/Blob", "ros2msg", b"", "cdr"),
            ("/bad", "acme_msgs/msg/Bad", "ros2msg", b"int32[[ what is this\n", "cdr"),
        ],
        {"/lidar": [bytes(store.serialize_cdr(pc2, "sensor_msgs/msg/PointCloud2"))], "/ping": [ping],
         "/json": [b"{}"], "/blob": [b"\x00\x01\x00\x00"], "/bad": [b"\x00"]},
    )  # fmt: skip
    with open_bag(path) as bag:
        unknown = bag.info().unknown
        assert set(unknown) == {"/json", "/blob", "/bad"}
        assert "json" in unknown["/json"].problem and "no definition" in unknown["/blob"].problem
        assert "does not parse" in unknown["/bad"].problem
        assert "UNKNOWN, skipped" in bag.info().format()
        got = [(m.topic, m.decode()) for m in bag.messages()]
        assert [t for t, _ in got].count("/lidar") == 3 and [t for t, _ in got].count("/ping") == 3
        assert next(msg for t, msg in got if t == "/ping").value == 42
        assert bag.skipped == {"/json": 3, "/blob": 3, "/bad": 3}


def test_second_channel_of_a_topic_skipped_and_counted(tmp_path: Path) -> None:
    """class: silent drop — a topic recorded on two channels (another type): the first is read, the
    other's messages are counted as skipped and a note says so."""
    path = tmp_path / "two.mcap"
    with path.open("wb") as f:
        w = RawMcapWriter(f)
        w.start(profile="ros2", library="test")
        a = w.register_channel(
            "/ping", "cdr", w.register_schema("acme_msgs/msg/Ping", "ros2msg", b"int32 value\n")
        )
        b = w.register_channel(
            "/ping", "cdr", w.register_schema("acme_msgs/msg/Pong", "ros2msg", b"float64 v\n")
        )
        for k in range(2):
            w.add_message(
                a, log_time=T0 + k, publish_time=T0 + k, data=b"\x00\x01\x00\x00" + np.int32(k).tobytes()
            )
            w.add_message(
                b, log_time=T0 + k, publish_time=T0 + k, data=b"\x00\x01\x00\x00" + np.float64(k).tobytes()
            )
        w.finish()
    with open_bag(path) as bag:
        assert [m.decode().value for m in bag.messages()] == [0, 1]
        assert bag.skipped == {"/ping": 2} and "several channels" in bag.info().notes[0]


def test_db3_without_definitions_uses_standard_types_and_skips_unknown(tmp_path: Path) -> None:
    """A Humble-era .db3 stores no definitions: standard types decode through the built-in store, a custom
    type without definition is skipped and counted."""
    from rosbags.rosbag2 import Writer

    store = rb.writer_typestore()
    with Writer(tmp_path / "old", version=9) as w:
        c1 = w.add_connection(
            "/cam/camera_info", "sensor_msgs/msg/CameraInfo", msgdef="", rihs01="RIHS01_" + "0" * 64
        )
        c2 = w.add_connection("/acme", "acme_msgs/msg/Blob", msgdef="", rihs01="RIHS01_" + "0" * 64)
        for k in range(2):
            w.write(
                c1,
                T0 + k,
                store.serialize_cdr(rb.camera_info(K, 160, 90, T0 + k, "cam"), "sensor_msgs/msg/CameraInfo"),
            )
            w.write(c2, T0 + k, b"\x00\x01\x00\x00\x01\x02")
    with open_bag(tmp_path / "old") as bag:
        assert set(bag.info().unknown) == {"/acme"}
        infos = [camera_info(m.decode(), m.where) for m in bag.messages()]
        assert len(infos) == 2 and np.array_equal(infos[1].intrinsics, K)
        assert bag.skipped == {"/acme": 2}
    with open_bag(tmp_path / "old" / "old.db3") as bag:  # the bare .db3 file opens too
        assert bag.info().topics["/cam/camera_info"].count == 2


def test_truncated_mcap_read_by_scanning(tmp_path: Path) -> None:
    """class: truncated input — an MCAP cut mid-file (no summary, no footer) is read by scanning: the
    complete messages before the cut, in order, with info().truncated and a note naming the byte offset."""
    path = tmp_path / "cut.mcap"
    with open_writer(path) as w:  # ~3.4 MB of clouds: several 1 MB chunks
        for i in range(40):
            t = T0 + i * DT
            big = np.tile(_lidar(i), (25, 1))
            w.write(
                "/lidar",
                "sensor_msgs/msg/PointCloud2",
                rb.pointcloud2(big, ["x", "y", "z", "intensity", "t"], t, "lidar"),
                t,
            )
    data = path.read_bytes()
    cut = tmp_path / "cut_part.mcap"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with open_bag(cut) as bag:
        info = bag.info()
        assert info.truncated and "read by scanning" in info.notes[0] and "file ends at" in info.notes[0]
        n = info.topics["/lidar"].count
        assert 0 < n < 40
        scans = [lidar_from_pointcloud2(m.decode(), m.where) for m in bag.messages(["/lidar"])]
        assert len(scans) == n
        for i, s in enumerate(scans):
            np.testing.assert_array_equal(s.points, np.tile(_lidar(i), (25, 1))[:, :4])
    head_only = tmp_path / "head.mcap"
    head_only.write_bytes(data[:40])
    with open_bag(head_only) as bag:
        assert bag.info().truncated and bag.info().message_count == 0 and list(bag.messages()) == []


def test_damaged_files_are_named_errors(tmp_path: Path) -> None:
    """class: bad input — not an MCAP, an empty file, a missing file, a bad payload, an unknown topic."""
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(b"hello, not an mcap file at all")
    with pytest.raises(DataError, match=r"bad\.mcap \[magic\]: not an MCAP file") as e:
        open_bag(bad)
    assert e.value.reason == "corrupt"
    (tmp_path / "empty.mcap").write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as e:
        open_bag(tmp_path / "empty.mcap")
    assert e.value.reason == "empty file"
    with pytest.raises(DataError, match="does not exist"):
        open_bag(tmp_path / "nope.db3")
    notbag = tmp_path / "junk.db3"
    notbag.write_bytes(b"x" * 100)
    with pytest.raises(DataError, match=r"junk\.db3: cannot open as a rosbag2"):
        open_bag(notbag)
    store = rb.writer_typestore()
    path = tmp_path / "badpayload.mcap"
    text = store.generate_msgdef("sensor_msgs/msg/CameraInfo", ros_version=2)[0].encode()
    _raw_mcap(
        path,
        [("/info", "sensor_msgs/msg/CameraInfo", "ros2msg", text, "cdr")],
        {"/info": [b"\x00\x01\x00\x00\x05"]},
    )
    with open_bag(path) as bag:
        m = next(iter(bag.messages()))
        with pytest.raises(
            DataError, match=r"badpayload\.mcap:/info \[sensor_msgs/msg/CameraInfo\]: message at log time"
        ) as e:
            m.decode()
        assert e.value.reason == "corrupt"
        with pytest.raises(DataError, match=r"no topic /lidar in the recording \(topics: /info\)"):
            list(bag.messages(["/lidar"]))


def _ros1_msg(store: Any, typename: str, **values: Any) -> Any:
    return rb.build(typename, typestore=store, **values)


def test_ros1_bag_roundtrip(tmp_path: Path) -> None:
    """A ROS 1 .bag (rosbags gives it for free): PointCloud2 and CameraInfo (upper-case K) decode."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    pts = _lidar(5)[:, :4]
    ros2 = rb.pointcloud2(pts, ["x", "y", "z", "intensity"], T0, "velodyne")
    hdr = {"seq": 1, "stamp": {"sec": T0 // 10**9, "nanosec": 0}, "frame_id": "velodyne"}
    fields = [{"name": f.name, "offset": f.offset, "datatype": f.datatype, "count": 1} for f in ros2.fields]
    pc = _ros1_msg(store, "sensor_msgs/msg/PointCloud2", header=hdr, height=1, width=len(pts), fields=fields,
                   point_step=16, row_step=16 * len(pts), data=ros2.data, is_dense=True)  # fmt: skip
    ci = _ros1_msg(store, "sensor_msgs/msg/CameraInfo", header=hdr, height=90, width=160, K=K.reshape(-1))
    with Writer(tmp_path / "old.bag") as w:
        c1 = w.add_connection("/velodyne_points", "sensor_msgs/msg/PointCloud2", typestore=store)
        c2 = w.add_connection("/camera_info", "sensor_msgs/msg/CameraInfo", typestore=store)
        w.write(c1, T0, store.serialize_ros1(pc, "sensor_msgs/msg/PointCloud2"))
        w.write(c2, T0 + 1, store.serialize_ros1(ci, "sensor_msgs/msg/CameraInfo"))
    with open_bag(tmp_path / "old.bag") as bag:
        assert bag.info().container == "ros1 bag" and bag.info().topics["/velodyne_points"].encoding == "ros1"
        msgs = [m.decode() for m in bag.messages()]
        np.testing.assert_array_equal(lidar_from_pointcloud2(msgs[0], "w").points, pts)
        np.testing.assert_array_equal(camera_info(msgs[1], "w").intrinsics, K)
