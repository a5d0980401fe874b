"""The rig file of a recorded drive: parsing, every error naming file + key + expected, writing back,
derivation from topic types, and where a drive's rig is found (argument, sidecar, embedded, derived)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from drive_fixtures import OTHER_RIG, write_other_rig_bag

from sensorfuse.errors import ConfigError
from sensorfuse.sources.bagfile import open_bag
from sensorfuse.sources.drive_rig import (
    RIG_METADATA_KEY,
    derive_rig,
    find_rig,
    load_drive_rig,
    parse_rig_text,
    rig_from_dict,
    rig_to_dict,
    save_drive_rig,
    sensor_name_of,
    sidecar_path,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO / "calib" / "rigs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_rigs_load_and_round_trip(path: Path, tmp_path: Path) -> None:
    """Every example rig file loads; written back and read again it is the same rig."""
    rig = load_drive_rig(path)
    assert rig.reference in rig.sensors and rig.sensors
    save_drive_rig(rig, tmp_path / "again.yaml")
    again = load_drive_rig(tmp_path / "again.yaml")
    assert rig_to_dict(again) == rig_to_dict(rig)


def test_other_car_rig_fields() -> None:
    """The example of another car: per-sensor keys parsed, override extrinsics as a Transform."""
    rig = load_drive_rig(REPO / "calib" / "rigs" / "other_car.yaml")
    assert rig.channels("lidar") == ("os_top",) and rig.odometry == "/odom" and rig.global_frame == "odom"
    lidar, radar = rig.sensors["os_top"], rig.sensors["RADAR_FRONT"]
    assert (lidar.time_field, lidar.time_unit, lidar.deskew) == ("t", "ns", True)
    np.testing.assert_allclose(radar.ego_from_sensor.translation, [3.5, 0.0, 0.6])  # type: ignore[union-attr]
    assert (
        rig.sensors["CAM_FRONT"].info_topic == "/front/camera_info"
        and rig.sensors["CAM_FRONT"].frame_id == ""
    )


def _rig(**changes: object) -> dict:
    data = yaml.safe_load(OTHER_RIG)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for k in path:
            node = node[k]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"colour": "red"}, "[colour]", "one of the keys"),
        ({"sensors": {}}, "[sensors]", "non-empty mapping"),
        ({"sensors__os_top__modality": "sonar"}, "[sensors.os_top.modality]", "one of lidar, camera, radar"),
        ({"sensors__os_top__topic": "ouster/points"}, "[sensors.os_top.topic]", "starting with '/'"),
        ({"sensors__os_top__time_unit": "fortnights"}, "[sensors.os_top.time_unit]", "auto, s, ms"),
        ({"sensors__os_top__deskew": "yes"}, "[sensors.os_top.deskew]", "true or false"),
        ({"sensors__os_top__info_topic": "/x"}, "[sensors.os_top.info_topic]", "lidar keys"),
        (
            {"sensors__CAM_FRONT__intrinsics": [[0, 0, 1], [0, 1, 1], [0, 0, 1]]},
            "[sensors.CAM_FRONT.intrinsics]",
            "fx, fy > 0",
        ),
        (
            {"sensors__CAM_FRONT__intrinsics": [[9, 0, 1], [0, 9, 1], [0, 0, 1]]},
            "[sensors.CAM_FRONT.intrinsics]",
            "image_size",
        ),
        (
            {"sensors__RADAR_FRONT__ego_from_sensor": {"translation": [0, 0, 0], "rotation": [2, 0, 0, 0]}},
            "[sensors.RADAR_FRONT.ego_from_sensor.rotation]",
            "unit quaternion",
        ),
        ({"sensors__RADAR_FRONT__topic": "/ouster/points"}, "[sensors]", "one sensor per topic"),
        ({"reference": "LIDAR_TOP"}, "[reference]", "one of the rig's sensors"),
        ({"odometry": "odom"}, "[odometry]", "starting with '/'"),
    ],
)
def test_rig_errors_name_file_key_and_expected(changes: dict, key: str, expected: str) -> None:
    """class: bad config — each mistake is a ConfigError naming the file, the key and what was expected."""
    with pytest.raises(ConfigError) as e:
        rig_from_dict(_rig(**changes), "cars/acme.yaml")
    msg = str(e.value)
    assert msg.startswith("cars/acme.yaml") and key in msg and expected in msg, msg


def test_rig_file_errors(tmp_path: Path) -> None:
    """class: bad config — a missing file, invalid YAML, a top level that is not a mapping."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_drive_rig(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("sensors: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: the rig file is not valid YAML"):
        load_drive_rig(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match=r"embedded.*\[<top>\]"):
        parse_rig_text("- a list\n", "embedded", "x")


def test_time_field_none_and_defaults() -> None:
    """``time_field: none`` ignores per-point times; the reference defaults to the first LiDAR."""
    rig = rig_from_dict(_rig(reference=None, sensors__os_top__time_field="none"), "r.yaml")
    assert rig.reference == "os_top" and rig.sensors["os_top"].time_field == ""
    assert rig_from_dict(rig_to_dict(rig), "again").sensors["os_top"].time_field == ""


def test_sensor_names_from_topics() -> None:
    assert sensor_name_of("/CAM_FRONT/image_rect_compressed") == "CAM_FRONT"
    assert sensor_name_of("/front/image/compressed") == "front"
    assert sensor_name_of("/sensing/lidar/top/points") == "sensing_lidar_top_points"


def test_derive_and_find_rig(tmp_path: Path) -> None:
    """No rig: one is derived from the topic types (camera_info beside the image, the one Odometry topic);
    a sidecar FILE.rig.yaml beats it, an explicit rig beats the sidecar, and an embedded rig is used."""
    path = tmp_path / "drive.mcap"
    write_other_rig_bag(path, frames=1)
    with open_bag(path) as bag:
        info = bag.info()
        derived = find_rig(path, info, {}, None)
        assert "derived" in derived.source
        assert {n: s.modality for n, s in derived.sensors.items()} == {
            "front": "camera",
            "ouster_points": "lidar",
            "radar_scan": "radar",
        }
        assert derived.sensors["front"].info_topic == "/front/camera_info" and derived.odometry == "/odom"
        assert derived.reference == "ouster_points"
        embedded = find_rig(path, info, {RIG_METADATA_KEY: OTHER_RIG}, None)
        assert embedded.name == "other-car" and "embedded" in embedded.source
        assert sidecar_path(path).name == "drive.mcap.rig.yaml"
        sidecar_path(path).write_text(OTHER_RIG.replace("other-car", "from-sidecar"))
        assert find_rig(path, info, {RIG_METADATA_KEY: OTHER_RIG}, None).name == "from-sidecar"
        explicit = tmp_path / "mine.yaml"
        explicit.write_text(OTHER_RIG.replace("other-car", "explicit"))
        assert find_rig(path, info, {}, explicit).name == "explicit"


def test_derive_rig_needs_a_sensor_topic(tmp_path: Path) -> None:
    """class: bad config — a recording with no sensor topic and no rig is a ConfigError naming its topics."""
    from sensorfuse.sources import ros_build as rb
    from sensorfuse.sources.bag_writer import open_writer

    path = tmp_path / "tf_only.mcap"
    with open_writer(path) as w:
        w.write("/tf", "tf2_msgs/msg/TFMessage", rb.tf_message([]), 1)
    with open_bag(path) as bag, pytest.raises(ConfigError, match=r"tf_only\.mcap.*topics: /tf.*--rig"):
        derive_rig(bag.info())
