"""The PointCloud2 benchmark runs on a small cloud, its three readers agree, and it writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sensorfuse.bench import pointcloud2 as bench


def test_readers_agree_on_small_cloud() -> None:
    msg = bench.make_cloud(500, seed=4)
    ref = bench.read_sensorfuse(msg)
    assert ref.shape == (500, 4) and ref.dtype == np.float32 and np.isfinite(ref).all()
    np.testing.assert_array_equal(bench.read_ros2_numpy_style(msg), ref)
    np.testing.assert_array_equal(bench.read_per_point(msg), ref)
    assert np.all(ref[:, 3] >= 0) and np.abs(ref[:, :2]).max() > 1.0  # not an all-zero cloud


def test_bench_main_writes_ratios(tmp_path: Path) -> None:
    out = tmp_path / "pc2.json"
    assert (
        bench.main(["--out", str(out), "--points", "2000", "--runs", "3", "--warmup", "1", "--subset", "500"])
        == 0
    )
    res = json.loads(out.read_text())
    assert res["points"] == 2000 and all(res["readers_agree"].values())
    assert set(res["ratio_vs_sensorfuse"]) == {
        "ros2_numpy_style",
        "per_point_python",
        "sensorfuse_lidar_scan",
        "sensorfuse_from_cdr",
    }
    assert (
        res["readers"]["per_point_python"]["timed_points"] == 500
        and res["readers"]["per_point_python"]["scaled_by"] == 4
    )
    assert all(r["median_ms"] > 0 for r in res["readers"].values())
