"""PointCloud2 → numpy: layouts (padding, odd field order, big-endian, row padding), fields, per-point time."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.sources import ros_build as rb
from sensorfuse.sources.points import make_packed, point_time_offsets
from sensorfuse.sources.ros_msgs import lidar_from_pointcloud2, pointcloud2_columns

STAMP = 1_700_000_000_123_456_789


def _cloud(n: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 20, (n, 4)).astype(np.float32)


def _msg_from_records(
    rec: np.ndarray,
    fields: list[tuple[str, int, int]],
    height: int,
    width: int,
    row_step: int,
    big: bool = False,
    step: int = 0,
):
    """A PointCloud2 over hand-laid bytes (fields: name, offset, datatype)."""
    msg = rb.pointcloud2(np.zeros((1, 1)), ["x"], STAMP, "lidar")
    msg.fields = [
        rb.build("sensor_msgs/msg/PointField", name=n, offset=o, datatype=d, count=1) for n, o, d in fields
    ]
    msg.height, msg.width, msg.row_step = height, width, row_step
    msg.point_step = step or rec.dtype.itemsize
    msg.is_bigendian = big
    msg.data = np.frombuffer(rec.tobytes() if rec.ndim == 1 else rec, np.uint8)
    return msg


def test_padded_odd_order_layout_matches_columns() -> None:
    """Fields in odd order with padding between them and at the end of each point (point_step 32)."""
    pts = _cloud()
    dt = np.dtype(
        {
            "names": ["intensity", "z", "x", "y"],
            "formats": ["<f4"] * 4,
            "offsets": [0, 8, 16, 24],
            "itemsize": 32,
        }
    )
    rec = np.zeros(len(pts), dt)
    for j, n in enumerate("xyz"):
        rec[n] = pts[:, j]
    rec["intensity"] = pts[:, 3]
    msg = _msg_from_records(
        rec, [("intensity", 0, 7), ("z", 8, 7), ("x", 16, 7), ("y", 24, 7)], 1, len(pts), 32 * len(pts)
    )
    out = pointcloud2_columns(msg, ["x", "y", "z", "intensity"], "f.mcap:/lidar")
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, pts)


def test_big_endian_mixed_types_and_row_padding() -> None:
    """Big-endian records, a float64 and a uint16 field, two rows each padded by 12 bytes (row_step)."""
    pts = _cloud(20)
    dt = np.dtype(
        {
            "names": ["x", "y", "z", "ring"],
            "formats": [">f8", ">f4", ">f4", ">u2"],
            "offsets": [0, 8, 12, 16],
            "itemsize": 20,
        }
    )
    rec = np.zeros(20, dt)
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    rec["ring"] = np.arange(20)
    rows = rec.reshape(2, 10).view(np.uint8).reshape(2, 200)
    padded = np.concatenate([rows, np.full((2, 12), 0xAB, np.uint8)], axis=1)  # garbage in the row padding
    msg = _msg_from_records(
        padded.reshape(-1),
        [("x", 0, 8), ("y", 8, 7), ("z", 12, 7), ("ring", 16, 4)],
        2,
        10,
        212,
        big=True,
        step=20,
    )
    scan = lidar_from_pointcloud2(msg, "f.mcap:/lidar")
    np.testing.assert_array_equal(scan.points[:, :3], pts[:, :3])
    assert scan.intensity_field is None and np.all(scan.points[:, 3] == 0)
    np.testing.assert_array_equal(scan.ring, np.arange(20))


def test_unaligned_row_step_and_field_subset() -> None:
    """A subset of fields in another order, over rows whose row_step is not a multiple of 4."""
    pts = _cloud(64, seed=3)
    msg = rb.pointcloud2(
        np.concatenate([pts, pts[:, :1]], 1), ["x", "y", "z", "intensity", "pad"], STAMP, "l"
    )
    fast = pointcloud2_columns(msg, ["intensity", "x", "z"], "w")
    msg.row_step += 1  # one row, so one padding byte at its end
    msg.data = np.concatenate([msg.data, np.zeros(1, np.uint8)])
    slow = pointcloud2_columns(msg, ["intensity", "x", "z"], "w")
    np.testing.assert_array_equal(fast, pts[:, [3, 0, 2]])
    np.testing.assert_array_equal(slow, fast)


def test_missing_x_names_topic_and_field() -> None:
    """class: bad input — a cloud without x is a DataError naming file:topic and the field."""
    msg = rb.pointcloud2(_cloud(5)[:, 1:], ["y", "z", "intensity"], STAMP, "lidar")
    with pytest.raises(DataError, match=r"drive\.mcap:/points \[x\].*no field 'x'") as e:
        lidar_from_pointcloud2(msg, "drive.mcap:/points")
    assert e.value.reason == "bad data" and e.value.field == "x"


def test_truncated_data_and_bad_layout_are_named() -> None:
    """class: truncated input — data shorter than height x row_step; a field past point_step."""
    msg = rb.pointcloud2(_cloud(10), ["x", "y", "z", "intensity"], STAMP, "lidar")
    msg.data = msg.data[:-5]
    with pytest.raises(DataError, match=r"155 bytes, expected 160") as e:
        pointcloud2_columns(msg, ["x"], "w")
    assert e.value.reason == "truncated"
    with pytest.raises(DataError, match="ends past point_step") as e2:
        make_packed([("x", 14, "f4", 1)], b"\0" * 32, 1, 2, 16, 32, False, "w")
    assert e2.value.field == "x"
    with pytest.raises(DataError, match="datatype 9"):
        msg2 = rb.pointcloud2(_cloud(2), ["x", "y", "z", "i"], STAMP, "l")
        msg2.fields[3].datatype = 9
        pointcloud2_columns(msg2, ["x"], "w")


def test_nonfinite_rows_dropped_and_counted() -> None:
    """class: silent drop — NaN points of an organised cloud are dropped and counted."""
    pts = _cloud(10)
    pts[[2, 7], 1] = np.nan
    scan = lidar_from_pointcloud2(rb.pointcloud2(pts, ["x", "y", "z", "intensity"], STAMP, "l"), "w")
    assert scan.dropped_nonfinite == 2 and len(scan) == 8
    np.testing.assert_array_equal(scan.points, np.delete(pts, [2, 7], axis=0))


@pytest.mark.parametrize(
    ("name", "code", "values", "expect_rule"),
    [
        ("t", "u4", np.array([0, 50_000_000, 99_000_000]), "ns"),  # Ouster: uint32 ns since the stamp
        ("time", "f4", np.array([-0.099, -0.05, 0.0]), "s"),  # Velodyne: float s, stamp at sweep end
        ("timestamp", "f8", STAMP * 1e-9 + np.array([0.0, 0.05, 0.099]), "abs_s"),  # Hesai: absolute s
        ("timestamp", "f8", STAMP + np.array([0.0, 5e7, 9.9e7]), "abs_ns"),  # Livox: absolute ns (float64)
        ("offset_time", "u4", np.array([0, 50_000_000, 99_000_000]), "ns"),  # Livox offset
        ("time_stamp", "f8", np.array([0.0, 5e7, 9.9e7]), "ns"),  # float ns
    ],
)
def test_time_field_rules(name: str, code: str, values: np.ndarray, expect_rule: str) -> None:
    """Driver time fields → seconds relative to the stamp, by the documented rule."""
    xyz = np.ones((3, 3))
    cols = np.concatenate([xyz, values[:, None].astype(np.float64)], 1)
    msg = rb.pointcloud2(cols, ["x", "y", "z", name], STAMP, "l", dtypes=["f4", "f4", "f4", code])
    scan = lidar_from_pointcloud2(msg, "w")
    assert scan.time_field == name and scan.time_rule == expect_rule
    rel = values - (STAMP * 1e-9 if expect_rule == "abs_s" else STAMP if expect_rule == "abs_ns" else 0)
    scale = 1e-9 if expect_rule in ("ns", "abs_ns") else 1.0
    np.testing.assert_allclose(scan.time_offset, rel * scale, atol=2e-6)


def test_time_implausible_and_override() -> None:
    """class: silent garbage — absolute times far from the stamp, or a 5 s span, are named errors."""
    with pytest.raises(DataError, match="set the time unit") as e:
        point_time_offsets(np.array([3e11, 3e11 + 1]), STAMP, "w", "timestamp")
    assert e.value.reason == "implausible" and e.value.field == "timestamp"
    with pytest.raises(DataError, match="span 5 s"):
        point_time_offsets(np.array([0.0, 5.0]), STAMP, "w", "time")
    off, rule = point_time_offsets(np.array([0, 100_000], np.uint32), STAMP, "w", "t", unit="us")
    assert rule == "us" and off[1] == pytest.approx(0.1)
