from pathlib import Path

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.io.lidar_bin import MAX_RING, read_lidar_bin, write_lidar_bin


def _sweep(n: int, seed: int = 0) -> np.ndarray:
    """A plausible nuScenes sweep: x, y, z in metres, intensity 0-255, ring 0-31."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0.0, 20.0, (n, 3))
    return np.concatenate([xyz, rng.integers(0, 256, (n, 1)), rng.integers(0, 32, (n, 1))], 1).astype(
        np.float32
    )


def test_roundtrip(tmp_path: Path) -> None:
    pts = _sweep(100)
    write_lidar_bin(tmp_path / "a.pcd.bin", pts)
    out = read_lidar_bin(tmp_path / "a.pcd.bin")
    assert out.dtype == np.float32 and np.array_equal(out, pts)


def test_truncated_file_names_size(tmp_path: Path) -> None:
    p = tmp_path / "t.pcd.bin"
    p.write_bytes(np.zeros((3, 5), np.float32).tobytes()[:-4])
    with pytest.raises(DataError, match=r"t\.pcd\.bin.*56 bytes.*multiple of 20") as e:
        read_lidar_bin(p)
    assert e.value.reason == "truncated"


def test_missing_empty_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as e:
        read_lidar_bin(tmp_path / "nope.pcd.bin")
    assert e.value.reason == "missing file"
    (tmp_path / "e.pcd.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.pcd\.bin.*empty") as e:
        read_lidar_bin(tmp_path / "e.pcd.bin")
    assert e.value.reason == "empty file"
    (tmp_path / "x.pcd").write_bytes(b"")
    with pytest.raises(DataError, match="suffix"):
        read_lidar_bin(tmp_path / "x.pcd")


def test_nonfinite(tmp_path: Path) -> None:
    pts = np.ones((4, 5), np.float32)
    pts[1, 2] = np.nan
    pts[3, 0] = np.inf
    write_lidar_bin(tmp_path / "n.pcd.bin", pts)
    with pytest.raises(DataError, match="2 of 4 points") as e:
        read_lidar_bin(tmp_path / "n.pcd.bin")
    assert e.value.reason == "corrupt"
    kept, dropped = read_lidar_bin(tmp_path / "n.pcd.bin", drop_nonfinite=True)
    assert dropped == 2 and len(kept) == 2 and np.isfinite(kept).all()


def _as_kitti_in_nuscenes_layout(tmp_path: Path, n_points: int) -> Path:
    """A KITTI-style sweep (x, y, z, intensity 0-1 as 4 float32) of 5*k points, saved as a ``.pcd.bin``."""
    rng = np.random.default_rng(3)
    kitti = np.concatenate([rng.normal(0.0, 15.0, (n_points, 2)), rng.normal(-1.0, 0.5, (n_points, 1)),
                            rng.uniform(0.0, 1.0, (n_points, 1))], 1).astype("<f4")  # fmt: skip
    p = tmp_path / "kitti.pcd.bin"
    p.write_bytes(kitti.tobytes())
    return p


def test_kitti_file_whose_size_divides_by_20_is_implausible(tmp_path: Path) -> None:
    """class: undetected corruption. A 4-float file of 5*k points used to read as garbage (ring -64...89)."""
    p = _as_kitti_in_nuscenes_layout(tmp_path, 5 * 200)
    assert p.stat().st_size % 20 == 0
    with pytest.raises(
        DataError, match=r"kitti\.pcd\.bin \[ring\]: \d+ of 800 points .*e\.g\. .*4-float \(KITTI"
    ) as e:
        read_lidar_bin(p)
    assert e.value.reason == "implausible" and e.value.field == "ring"


def test_kitti_file_not_divisible_by_20_is_named(tmp_path: Path) -> None:
    p = _as_kitti_in_nuscenes_layout(tmp_path, 5 * 200 + 1)
    with pytest.raises(DataError, match="KITTI") as e:
        read_lidar_bin(p)
    assert e.value.reason == "truncated"


@pytest.mark.parametrize(
    ("col", "value", "field"),
    [(4, 2.5, "ring"), (4, -1.0, "ring"), (4, MAX_RING + 1.0, "ring"), (3, -0.5, "intensity")],
)
def test_each_plausibility_check_names_its_column(tmp_path: Path, col: int, value: float, field: str) -> None:
    """class: undetected corruption. One bad value is enough; the error names the column, count and example."""
    pts = _sweep(50)
    pts[[7, 9], col] = value
    write_lidar_bin(tmp_path / "b.pcd.bin", pts)
    with pytest.raises(DataError, match=rf"\[{field}\]: 2 of 50 points .*e\.g\. {value:g}") as e:
        read_lidar_bin(tmp_path / "b.pcd.bin")
    assert e.value.reason == "implausible" and e.value.field == field
    pts[[7, 9], col] = [0.0, MAX_RING] if field == "ring" else [0.0, 1e4]  # the bounds themselves are fine
    write_lidar_bin(tmp_path / "b.pcd.bin", pts)
    assert read_lidar_bin(tmp_path / "b.pcd.bin").shape == (50, 5)


def test_plausibility_applies_after_dropping_nonfinite_rows(tmp_path: Path) -> None:
    pts = _sweep(10)
    pts[2, 4] = np.nan  # a NaN ring is dropped, not called implausible
    write_lidar_bin(tmp_path / "n.pcd.bin", pts)
    kept, dropped = read_lidar_bin(tmp_path / "n.pcd.bin", drop_nonfinite=True)
    assert dropped == 1 and len(kept) == 9
    pts[5, 3] = -3.0
    write_lidar_bin(tmp_path / "n.pcd.bin", pts)
    with pytest.raises(DataError, match="intensity"):
        read_lidar_bin(tmp_path / "n.pcd.bin", drop_nonfinite=True)


@pytest.mark.realdata
def test_real_sweep_matches_devkit(realdata: Path) -> None:
    from nuscenes.utils.data_classes import LidarPointCloud

    path = next((realdata / "nuscenes-mini-sample").glob("*LIDAR_TOP*.pcd.bin"))
    pts = read_lidar_bin(path)
    assert pts.shape == (34688, 5)
    assert np.array_equal(pts[:, :4].T, LidarPointCloud.from_file(str(path)).points)
    assert set(np.unique(pts[:, 4])) <= set(range(32))
