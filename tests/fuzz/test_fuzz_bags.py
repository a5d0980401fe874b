"""Fuzz the recorded-drive readers (MCAP with ROS 2 CDR, Foxglove protobuf MCAP): a valid recording or
sensorfuse's named error, never anything else.

class: undetected corruption. Mutations of a small valid recording (every message kind sensorfuse reads),
half of them aimed at the first kilobytes (the MCAP header, schemas and channels); each mutated file is opened,
summarised (``info``), iterated, and every message decoded and converted by the decoder of its kind.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from binary_mutations import check_outcome, mutated
from fuzz_budget import FUZZ
from hypothesis import given

from sensorfuse.sources.bagfile import open_bag
from sensorfuse.sources.ros_images import camera_info, compressed_to_rgb, image_to_rgb
from sensorfuse.sources.ros_msgs import lidar_from_pointcloud2, pose_from_odometry, transforms_from_tf
from sensorfuse.sources.ros_radar import radar_from_pointcloud2, radar_from_radarscan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from test_bagfile import write_ros2_drive

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

#: message type → the conversion sensorfuse applies to it (what a reader must survive)
CONVERT: dict[str, Callable[[Any, str], Any]] = {
    "sensor_msgs/msg/PointCloud2": lambda m, w: lidar_from_pointcloud2(m, w),
    "sensor_msgs/msg/CompressedImage": lambda m, w: compressed_to_rgb(bytes(m.data), w),
    "sensor_msgs/msg/Image": image_to_rgb,
    "sensor_msgs/msg/CameraInfo": camera_info,
    "tf2_msgs/msg/TFMessage": transforms_from_tf,
    "nav_msgs/msg/Odometry": pose_from_odometry,
    "radar_msgs/msg/RadarScan": radar_from_radarscan,
}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("bagseed") / "seed.mcap"
    write_ros2_drive(path, "mcap", frames=2)
    return path.read_bytes()


def _read_all(path: Path) -> int:
    """Open, summarise, iterate and convert every message; returns how many were converted."""
    n = 0
    with open_bag(path) as bag:
        bag.info().format()
        for msg in bag.messages():
            decoded = msg.decode()
            msg.sensor_time_ns()
            convert = CONVERT.get(msg.type)
            if convert is not None:
                out = convert(decoded, msg.where)
                if isinstance(out, np.ndarray) and out.dtype.kind == "f":
                    assert np.isfinite(out).all()
                if msg.topic == "/radar":
                    radar_from_pointcloud2(decoded, msg.where)
            n += 1
    return n


@pytest.mark.parametrize("region", ["anywhere", "header"])
def test_mutated_mcap_is_read_or_named(seed: bytes, tmp_path: Path, region: str) -> None:
    """Each mutated recording: a valid read or a SensorfuseError naming the file."""
    regions = [(0, 2048)] if region == "header" else []
    path = tmp_path / "fuzz.mcap"

    @FUZZ
    @given(data=mutated(seed, regions))
    def one(data: bytes) -> None:
        path.write_bytes(data)
        check_outcome(lambda: _read_all(path), path)

    one()
