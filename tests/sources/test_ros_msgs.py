"""Message decoders: images, CameraInfo, radar (PointCloud2 and RadarScan), TF, odometry, box markers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.sources import ros_build as rb
from sensorfuse.sources.markers import boxes_from_markers, marker_array
from sensorfuse.sources.ros_images import (
    camera_info,
    compressed_to_rgb,
    image_to_rgb,
)
from sensorfuse.sources.ros_msgs import (
    StampedTransform,
    pose_from_odometry,
    transforms_from_tf,
    twist_from_odometry,
)
from sensorfuse.sources.ros_radar import (
    RadarFields,
    radar_from_pointcloud2,
    radar_from_radarscan,
)
from sensorfuse.structures import RADAR_COLUMNS

T = 1_600_000_000_500_000_000
K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])


def _rgb(h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_encodings_with_row_padding() -> None:
    """rgb8 / bgr8 / mono8 / mono16 with a padded step all come out as RGB uint8."""
    rgb = _rgb()
    msg = rb.image(rgb, T, "cam")
    np.testing.assert_array_equal(image_to_rgb(msg, "w"), rgb)
    bgr = np.concatenate([rgb[:, :, ::-1], np.zeros((24, 4, 3), np.uint8)], axis=1)  # 4 pixels of padding
    msg.encoding, msg.step, msg.data = "bgr8", 36 * 3, bgr.reshape(-1)
    np.testing.assert_array_equal(image_to_rgb(msg, "w"), rgb)
    gray = rgb[:, :, 0]
    msg.encoding, msg.step, msg.data = (
        "mono16",
        64,
        ((gray.astype(np.uint16) << 8) + 7).astype(">u2").view(np.uint8).reshape(-1),
    )
    msg.is_bigendian = True
    np.testing.assert_array_equal(image_to_rgb(msg, "w"), np.repeat(gray[:, :, None], 3, axis=2))


def test_bayer_flat_colour() -> None:
    """A flat-colour RGGB mosaic demosaics to that colour (checks the ROS → OpenCV pattern mapping)."""
    colour = (200, 100, 30)
    mosaic = np.zeros((8, 8), np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2] = (
        colour[0],
        colour[1],
        colour[1],
        colour[2],
    )
    msg = rb.image(np.zeros((8, 8, 3), np.uint8), T, "cam")
    msg.encoding, msg.step, msg.data = "bayer_rggb8", 8, mosaic.reshape(-1)
    out = image_to_rgb(msg, "w")
    np.testing.assert_array_equal(out[2:6, 2:6].reshape(-1, 3), np.tile(colour, (16, 1)))


def test_image_bad_encoding_and_short_data() -> None:
    msg = rb.image(_rgb(), T, "cam")
    msg.encoding = "yuv422"
    with pytest.raises(DataError, match=r"cam\.mcap:/image \[encoding\]"):
        image_to_rgb(msg, "cam.mcap:/image")
    msg.encoding, msg.data = "rgb8", msg.data[:-10]
    with pytest.raises(DataError, match=r"bytes for 24 rows") as e:
        image_to_rgb(msg, "w")
    assert e.value.reason == "truncated"


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_compressed_jpeg_png_and_truncation(ext: str) -> None:
    """JPEG and PNG bytes decode to RGB; cut bytes are a named 'truncated' error (class: truncated input)."""
    rgb = np.full((16, 24, 3), (250, 10, 10), np.uint8)
    ok, enc = cv2.imencode(ext, rgb[:, :, ::-1])
    assert ok
    out = compressed_to_rgb(enc.tobytes(), "w")
    assert out.shape == (16, 24, 3) and np.abs(out.astype(int) - rgb).max() <= 3
    with pytest.raises(DataError, match=r"f\.mcap:/cam \[(data|image)\]: truncated") as e:
        compressed_to_rgb(enc.tobytes()[: len(enc) // 2], "f.mcap:/cam")
    assert e.value.reason == "truncated"


def test_camera_info_and_zero_focal() -> None:
    """class: bad calibration — a CameraInfo with fx = 0 names the topic and field k."""
    cal = camera_info(rb.camera_info(K, 640, 480, T, "cam_front"), "w")
    np.testing.assert_array_equal(cal.intrinsics, K)
    assert (cal.width, cal.height, cal.frame_id, cal.stamp_ns, cal.distorted) == (
        640,
        480,
        "cam_front",
        T,
        False,
    )
    bad = K.copy()
    bad[0, 0] = 0.0
    with pytest.raises(DataError, match=r"drive\.db3:/cam/camera_info \[k\]: focal lengths must be > 0") as e:
        camera_info(rb.camera_info(bad, 640, 480, T, "cam"), "drive.db3:/cam/camera_info")
    assert e.value.reason == "bad calibration"
    singular = K.copy()
    singular[2] = [0, 0, 0]
    with pytest.raises(DataError, match="singular"):
        camera_info(rb.camera_info(singular, 640, 480, T, "cam"), "w")


def test_radar_doppler_projection_and_compensation() -> None:
    """A Doppler field → radial velocity vector; with a sensor velocity it is ego-compensated."""
    xyz = np.array([[10.0, 0, 0], [0, 20.0, 0], [3.0, 4.0, 0]])
    doppler = np.array([-2.0, 1.0, 5.0])
    cols = np.concatenate([xyz, doppler[:, None], np.array([[5.0], [10.0], [15.0]])], 1)
    msg = rb.pointcloud2(cols, ["x", "y", "z", "doppler", "rcs"], T, "radar")
    det = radar_from_pointcloud2(msg, "w")
    assert det.velocity == "raw doppler" and det.absent == () and det.points.shape == (3, len(RADAR_COLUMNS))
    np.testing.assert_allclose(det.points[:, 3:5], [[-2, 0], [0, 1], [3, 4]], atol=1e-6)
    np.testing.assert_allclose(det.points[:, 5], [5, 10, 15])
    # the sensor drives forward at 10 m/s: a static target ahead shows doppler -10, compensated to 0
    comp = radar_from_pointcloud2(msg, "w", sensor_velocity=np.array([10.0, 0, 0]))
    assert comp.velocity == "compensated"
    np.testing.assert_allclose(comp.points[0, 3:5], [8, 0], atol=1e-6)  # -2 + 10
    np.testing.assert_allclose(comp.points[2, 3:5], np.array([3, 4]) / 5 * (5 + 6), atol=1e-5)


def test_radar_nuscenes_fields_and_absent_columns() -> None:
    """nuScenes vx_comp/vy_comp are used as they are; a cloud with neither reports the absent columns."""
    cols = np.array([[1.0, 2, 0, 0.5, -0.5, 7.0]])
    det = radar_from_pointcloud2(
        rb.pointcloud2(cols, ["x", "y", "z", "vx_comp", "vy_comp", "rcs"], T, "r"), "w"
    )
    np.testing.assert_allclose(det.points[0, :6], cols[0])
    assert det.velocity == "compensated"
    bare = radar_from_pointcloud2(rb.pointcloud2(cols[:, :3], ["x", "y", "z"], T, "r"), "w")
    assert bare.velocity == "absent" and bare.absent == ("vx_comp", "vy_comp", "rcs")
    named = radar_from_pointcloud2(
        rb.pointcloud2(cols[:, [0, 1, 2, 5]], ["x", "y", "z", "v"], T, "r"), "w", RadarFields(doppler=("v",))
    )
    assert named.velocity == "raw doppler"


def test_radarscan_polar_to_cartesian() -> None:
    """RadarScan: range/azimuth/elevation → x, y, z (REP 103); doppler along the ray; amplitude → rcs."""
    rows = np.array(
        [[10.0, np.pi / 2, 0.0, -1.0, 20.0], [2.0, 0.0, np.pi / 6, 3.0, 5.0], [np.nan, 0, 0, 0, 0]]
    )
    det = radar_from_radarscan(rb.radar_scan(rows, T, "radar_front"), "w")
    assert len(det) == 2 and det.frame_id == "radar_front" and det.stamp_ns == T
    np.testing.assert_allclose(det.points[0, :3], [0, 10, 0], atol=1e-5)
    np.testing.assert_allclose(det.points[1, :3], [np.sqrt(3), 0, 1], atol=1e-5)
    np.testing.assert_allclose(det.points[0, 3:6], [0, -1, 20], atol=1e-5)
    np.testing.assert_allclose(det.points[1, 3:5], [3 * np.cos(np.pi / 6), 0], atol=1e-5)


def test_tf_and_odometry() -> None:
    """TFMessage → parent_from_child (leading '/' dropped); Odometry → global_from_ego and twist."""
    ego_from_lidar = Transform.from_quat(yaw_to_quat(0.3), [1.0, 0.0, 1.8])
    msg = rb.tf_message([StampedTransform("/base_link", "lidar", T, ego_from_lidar)])
    (st,) = transforms_from_tf(msg, "w")
    assert (st.parent, st.child, st.stamp_ns) == ("base_link", "lidar", T)
    np.testing.assert_allclose(st.transform.matrix, ego_from_lidar.matrix, atol=1e-12)
    pose = Transform.from_quat(yaw_to_quat(-1.0), [100.0, 50.0, 0.0])
    odo = rb.odometry(pose, T, velocity=(5.0, 0.1, 0), yaw_rate=0.2)
    p = pose_from_odometry(odo, "w")
    assert (p.parent, p.child) == ("map", "base_link")
    np.testing.assert_allclose(p.transform.matrix, pose.matrix, atol=1e-12)
    v, w = twist_from_odometry(odo)
    np.testing.assert_allclose(v, [5.0, 0.1, 0.0])
    assert w == pytest.approx(0.2)
    msg.transforms[0].transform.rotation.w = 0.0  # zero quaternion
    with pytest.raises(DataError, match=r"\[transforms\[0\]\]") as e:
        transforms_from_tf(msg, "w")
    assert e.value.reason == "bad calibration"


def test_markers_roundtrip_boxes() -> None:
    """Boxes → MarkerArray (DELETEALL + CUBEs) → boxes: centre, size, yaw, velocity, label, score."""
    boxes = np.array(
        [[1, 2, 0.5, 4.5, 1.9, 1.6, 0.4, 3.0, -1.0], [-5, 8, 1.0, 10, 2.5, 3.2, -2.8, 0, 0]], np.float32
    )
    msg = marker_array(boxes, ["car", "bus"], np.array([0.9, 0.4]), T, "lidar_top")
    assert msg.markers[0].action == 3 and len(msg.markers) == 3
    out = boxes_from_markers(msg, "w")
    np.testing.assert_allclose(out.boxes, boxes, atol=1e-5)
    assert out.labels == ("car", "bus") and out.frame_id == "lidar_top" and out.stamp_ns == T
    np.testing.assert_allclose(out.scores, [0.9, 0.4])
    msg.markers[1].text = "not json"
    with pytest.raises(DataError, match=r"markers\[1\]\.text"):
        boxes_from_markers(msg, "w")
