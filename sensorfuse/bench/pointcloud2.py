"""PointCloud2 → numpy benchmark: sensorfuse's decoder vs a per-point Python reader vs ros2_numpy-style code.

``python -m sensorfuse.bench.pointcloud2 --out docs/bench/pointcloud2.json [--points 300000] [--runs 15]``

The cloud is an Ouster-like ``sensor_msgs/PointCloud2`` (48-byte points: x, y, z, 4 bytes padding,
intensity f4, t u4 ns, reflectivity u2, ring u2, ambient u2, padding), little-endian, one row. Every reader
returns the same (N, 4) float32 array of x, y, z, intensity (checked equal before timing):

* ``sensorfuse`` — :func:`sensorfuse.sources.ros_msgs.pointcloud2_columns` (structured dtype over the
  buffer, one strided copy per field into a C-ordered array);
* ``ros2_numpy_style`` — the well-known approach of ``ros_numpy``/``ros2_numpy``: ``np.frombuffer`` with a
  dtype built from the fields (padding as dummy fields), then ``structured_to_unstructured`` of the four
  fields (the ``ros2-numpy`` package itself needs a ROS installation, so the approach is written here);
* ``per_point_python`` — ``struct.unpack_from`` per point (a precompiled ``struct.Struct``); timed on a
  subset (``--subset`` points) and scaled linearly to the full cloud, as the JSON says.

Two more rows, for context: ``sensorfuse_lidar_scan`` (the full :func:`lidar_from_pointcloud2`: x, y, z,
intensity, the non-finite check, per-point time → seconds, ring) and ``sensorfuse_from_cdr`` (rosbags'
CDR deserialisation of the serialised message + ``pointcloud2_columns``). Each figure is the median of
``--runs`` timed runs after ``--warmup`` untimed ones; ratios are peer / sensorfuse.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib import recfunctions

from sensorfuse.sources import ros_build
from sensorfuse.sources.ros_msgs import lidar_from_pointcloud2, pointcloud2_columns
from sensorfuse.sources.ros_types import writer_typestore

#: The Ouster-like layout: (name, numpy code, offset); point_step 48.
OUSTER_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("x", "f4", 0), ("y", "f4", 4), ("z", "f4", 8), ("intensity", "f4", 16), ("t", "u4", 20),
    ("reflectivity", "u2", 24), ("ring", "u2", 26), ("ambient", "u2", 28),
)  # fmt: skip
POINT_STEP = 48
COLUMNS = ("x", "y", "z", "intensity")
_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 8}
_ROS_TO_NUMPY = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


def make_cloud(n: int, seed: int = 0) -> Any:
    """A PointCloud2 of ``n`` Ouster-like points (a 128-ring spinning sweep over 0.1 s)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype({"names": [f[0] for f in OUSTER_FIELDS], "formats": ["<" + f[1] for f in OUSTER_FIELDS],
                   "offsets": [f[2] for f in OUSTER_FIELDS], "itemsize": POINT_STEP})  # fmt: skip
    rec = np.zeros(n, dt)
    az = rng.uniform(-np.pi, np.pi, n)
    r = rng.uniform(1.0, 80.0, n)
    rec["x"], rec["y"], rec["z"] = r * np.cos(az), r * np.sin(az), rng.uniform(-2.0, 5.0, n)
    rec["intensity"] = rng.uniform(0, 255, n)
    rec["t"] = np.sort(rng.integers(0, 100_000_000, n))
    rec["ring"] = rng.integers(0, 128, n)
    msg = ros_build.pointcloud2(np.zeros((1, 1)), ["x"], 1_700_000_000_000_000_000, "os_sensor")
    msg.fields = [
        ros_build.build(
            "sensor_msgs/msg/PointField",
            name=name,
            offset=off,
            datatype=ros_build.POINTFIELD_OF_CODE[code],
            count=1,
        )
        for name, code, off in OUSTER_FIELDS
    ]
    msg.width, msg.point_step, msg.row_step = n, POINT_STEP, n * POINT_STEP
    msg.data = rec.view(np.uint8).reshape(-1)
    return msg


def read_sensorfuse(msg: Any) -> np.ndarray:
    return pointcloud2_columns(msg, COLUMNS, "bench")


def read_ros2_numpy_style(msg: Any) -> np.ndarray:
    """ros_numpy's ``fields_to_dtype`` + ``np.frombuffer``, then ``structured_to_unstructured``."""
    fields: list[tuple[Any, ...]] = []
    offset = 0
    for f in sorted(msg.fields, key=lambda f: f.offset):
        if offset < f.offset:
            fields.append((f"__{offset}", np.uint8, f.offset - offset))
            offset = f.offset
        fields.append((f.name, np.dtype("<" + _ROS_TO_NUMPY[f.datatype])))
        offset += _SIZES[f.datatype]
    if offset < msg.point_step:
        fields.append((f"__{offset}", np.uint8, msg.point_step - offset))
    arr = np.frombuffer(msg.data, dtype=np.dtype(fields))
    return recfunctions.structured_to_unstructured(arr[list(COLUMNS)], dtype=np.float32)


def read_per_point(msg: Any, limit: int | None = None) -> np.ndarray:
    """struct.unpack_from per point (x, y, z, 4 pad bytes, intensity); the first ``limit`` points."""
    s = struct.Struct("<fff4xf")
    data, step = bytes(msg.data), msg.point_step
    n = msg.width * msg.height if limit is None else limit
    return np.array([s.unpack_from(data, i * step) for i in range(n)], dtype=np.float32).reshape(-1, 4)


def timed(fn: Callable[[], object], runs: int, warmup: int) -> dict[str, float]:
    """Median / min / max milliseconds of ``fn`` over ``runs`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        ts.append((time.perf_counter_ns() - t0) * 1e-6)
    return {
        "median_ms": float(np.median(ts)),
        "min_ms": float(np.min(ts)),
        "max_ms": float(np.max(ts)),
        "runs": runs,
    }


def run(points: int = 300_000, runs: int = 15, warmup: int = 2, subset: int = 30_000) -> dict[str, Any]:
    """Time every reader on one cloud; returns the JSON-ready result (readers, ratios, agreement)."""
    msg = make_cloud(points)
    ref = read_sensorfuse(msg)
    sub = min(subset, points)
    agree = {
        "ros2_numpy_style": bool(np.array_equal(read_ros2_numpy_style(msg), ref)),
        "per_point_python": bool(np.array_equal(read_per_point(msg, sub), ref[:sub])),
    }
    if not all(agree.values()):
        raise RuntimeError(f"readers disagree: {agree}")
    store = writer_typestore()
    raw = bytes(store.serialize_cdr(msg, "sensor_msgs/msg/PointCloud2"))
    readers = {
        "sensorfuse": timed(lambda: read_sensorfuse(msg), runs, warmup),
        "ros2_numpy_style": timed(lambda: read_ros2_numpy_style(msg), runs, warmup),
        "sensorfuse_lidar_scan": timed(lambda: lidar_from_pointcloud2(msg, "bench"), runs, warmup),
        "sensorfuse_from_cdr": timed(
            lambda: read_sensorfuse(store.deserialize_cdr(memoryview(raw), "sensor_msgs/msg/PointCloud2")),
            runs,
            warmup,
        ),
    }
    slow_runs = max(3, runs // 5)
    pp = timed(lambda: read_per_point(msg, sub), slow_runs, 1)
    scale = points / sub
    readers["per_point_python"] = {**{k: v * scale for k, v in pp.items() if k != "runs"}, "runs": slow_runs,
                                   "timed_points": sub, "scaled_by": scale}  # fmt: skip
    base = readers["sensorfuse"]["median_ms"]
    return {
        "points": points,
        "point_step": POINT_STEP,
        "output": "(N, 4) float32 x, y, z, intensity",
        "readers": readers,
        "ratio_vs_sensorfuse": {k: v["median_ms"] / base for k, v in readers.items() if k != "sensorfuse"},
        "readers_agree": agree,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--points", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--subset", type=int, default=30_000, help="points the per-point reader is timed on")
    args = parser.parse_args(argv)
    from sensorfuse.utils.atomic import atomic_write_json

    load_before = [round(x, 2) for x in os.getloadavg()]
    result = run(args.points, args.runs, args.warmup, args.subset)
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    result["command"] = "python -m sensorfuse.bench.pointcloud2 " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    atomic_write_json(args.out, result, indent=2)
    for name, r in result["readers"].items():
        ratio = result["ratio_vs_sensorfuse"].get(name, 1.0)
        print(f"{name:<24} {r['median_ms']:10.3f} ms  x{ratio:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
