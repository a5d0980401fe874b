from pathlib import Path

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.io.lidar_bin import read_lidar_bin, write_lidar_bin


def test_roundtrip(tmp_path: Path) -> None:
    pts = np.random.default_rng(0).normal(size=(100, 5)).astype(np.float32)
    write_lidar_bin(tmp_path / "a.pcd.bin", pts)
    out = read_lidar_bin(tmp_path / "a.pcd.bin")
    assert out.dtype == np.float32 and np.array_equal(out, pts)


def test_truncated_file_names_size(tmp_path: Path) -> None:
    p = tmp_path / "t.pcd.bin"
    p.write_bytes(np.zeros((3, 5), np.float32).tobytes()[:-4])
    with pytest.raises(DataError, match=r"t\.pcd\.bin.*56 bytes.*multiple of 20"):
        read_lidar_bin(p)


def test_missing_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_lidar_bin(tmp_path / "nope.pcd.bin")
    (tmp_path / "x.pcd").write_bytes(b"")
    with pytest.raises(DataError, match="suffix"):
        read_lidar_bin(tmp_path / "x.pcd")


def test_nonfinite(tmp_path: Path) -> None:
    pts = np.ones((4, 5), np.float32)
    pts[1, 2] = np.nan
    pts[3, 0] = np.inf
    write_lidar_bin(tmp_path / "n.pcd.bin", pts)
    with pytest.raises(DataError, match="2 of 4 points"):
        read_lidar_bin(tmp_path / "n.pcd.bin")
    kept, dropped = read_lidar_bin(tmp_path / "n.pcd.bin", drop_nonfinite=True)
    assert dropped == 2 and len(kept) == 2 and np.isfinite(kept).all()


@pytest.mark.realdata
def test_real_sweep_matches_devkit(realdata: Path) -> None:
    from nuscenes.utils.data_classes import LidarPointCloud

    path = next((realdata / "nuscenes-mini-sample").glob("*LIDAR_TOP*.pcd.bin"))
    pts = read_lidar_bin(path)
    assert pts.shape == (34688, 5)
    assert np.array_equal(pts[:, :4].T, LidarPointCloud.from_file(str(path)).points)
    assert set(np.unique(pts[:, 4])) <= set(range(32))
