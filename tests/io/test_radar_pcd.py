from pathlib import Path

import numpy as np
import pytest

from sensorfuse.errors import DataError
from sensorfuse.io.radar_pcd import RADAR_FIELDS, RECORD_BYTES, read_radar_pcd, write_radar_pcd


def _real_files(realdata: Path) -> list[Path]:
    files = sorted((realdata / "radar_front").glob("*.pcd"))
    assert len(files) == 5
    return files


@pytest.mark.realdata
def test_reader_matches_devkit_on_real_files(realdata: Path) -> None:
    from nuscenes.utils.data_classes import RadarPointCloud

    for f in _real_files(realdata):
        ours = read_radar_pcd(f)
        theirs = RadarPointCloud.from_file(str(f)).points.T
        assert ours.shape == theirs.shape and len(ours) > 0
        assert np.array_equal(ours.astype(np.float64), theirs)


@pytest.mark.realdata
def test_real_read_write_read_is_byte_identical(realdata: Path, tmp_path: Path) -> None:
    from nuscenes.utils.data_classes import RadarPointCloud

    for f in _real_files(realdata):
        raw = read_radar_pcd(f, invalid_states=None, dynprop_states=None, ambig_states=None)
        out = tmp_path / f.name
        write_radar_pcd(out, raw)
        assert out.read_bytes() == f.read_bytes()
        assert out.stat().st_size == 4096 + RECORD_BYTES * len(raw)
        assert np.array_equal(
            RadarPointCloud.from_file(str(out)).points, RadarPointCloud.from_file(str(f)).points
        )


def test_written_file_reads_in_devkit(tmp_path: Path) -> None:
    from nuscenes.utils.data_classes import RadarPointCloud

    pts = np.zeros((3, len(RADAR_FIELDS)))
    pts[:, 0] = [1.0, 2.0, 3.0]
    pts[:, RADAR_FIELDS.index("ambig_state")] = 3
    pts[2, RADAR_FIELDS.index("invalid_state")] = 1  # filtered out by default
    write_radar_pcd(tmp_path / "r.pcd", pts)
    dev = RadarPointCloud.from_file(str(tmp_path / "r.pcd")).points.T
    assert np.array_equal(dev, read_radar_pcd(tmp_path / "r.pcd").astype(np.float64))
    assert dev.shape == (2, 18)


def test_truncated_file(tmp_path: Path) -> None:
    pts = np.ones((5, len(RADAR_FIELDS)))
    write_radar_pcd(tmp_path / "r.pcd", pts)
    data = (tmp_path / "r.pcd").read_bytes()
    header_end = data.index(b"DATA binary\n") + len(b"DATA binary\n")
    (tmp_path / "t.pcd").write_bytes(data[: header_end + 4 * RECORD_BYTES])
    with pytest.raises(DataError, match=r"t\.pcd.*truncated"):
        read_radar_pcd(tmp_path / "t.pcd")


def test_broken_header_names_line(tmp_path: Path) -> None:
    write_radar_pcd(tmp_path / "r.pcd", np.ones((2, len(RADAR_FIELDS))))
    data = (tmp_path / "r.pcd").read_bytes().replace(b"TYPE F F F I I", b"TYPE F F F F I")
    (tmp_path / "b.pcd").write_bytes(data)
    with pytest.raises(DataError, match=r"b\.pcd \[TYPE\]: header line 5"):
        read_radar_pcd(tmp_path / "b.pcd")
    (tmp_path / "w.pcd").write_bytes(
        data.replace(b"TYPE F F F F I", b"TYPE F F F I I").replace(b"WIDTH 2", b"WIDTH x")
    )
    with pytest.raises(DataError, match="WIDTH"):
        read_radar_pcd(tmp_path / "w.pcd")


def test_bad_shape_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="shape"):
        write_radar_pcd(tmp_path / "r.pcd", np.ones((2, 5)))
    with pytest.raises(DataError, match="does not exist"):
        read_radar_pcd(tmp_path / "none.pcd")


def _plausible(n: int) -> np.ndarray:
    """n radar points that pass every check and the default filters."""
    pts = np.zeros((n, len(RADAR_FIELDS)))
    pts[:, 0] = np.linspace(5.0, 60.0, n)
    pts[:, RADAR_FIELDS.index("ambig_state")] = 3
    pts[:, RADAR_FIELDS.index("is_quality_valid")] = 1
    return pts


def test_error_reasons(tmp_path: Path) -> None:
    """Each reader error carries the reason a dropped radar is counted under."""
    (tmp_path / "e.pcd").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.pcd.*empty") as e:
        read_radar_pcd(tmp_path / "e.pcd")
    assert e.value.reason == "empty file"
    with pytest.raises(DataError) as e:
        read_radar_pcd(tmp_path / "none.pcd")
    assert e.value.reason == "missing file"
    write_radar_pcd(tmp_path / "r.pcd", _plausible(5))
    data = (tmp_path / "r.pcd").read_bytes()
    (tmp_path / "t.pcd").write_bytes(data[: data.index(b"DATA binary\n") + 12 + 4 * RECORD_BYTES])
    with pytest.raises(DataError, match="truncated") as e:
        read_radar_pcd(tmp_path / "t.pcd")
    assert e.value.reason == "truncated"
    (tmp_path / "h.pcd").write_bytes(data.replace(b"VERSION 0.7", b"VERSON 0.7"))
    with pytest.raises(DataError, match="VERSION") as e:
        read_radar_pcd(tmp_path / "h.pcd")
    assert e.value.reason == "corrupt"


def test_width_smaller_than_the_data_is_corrupt(tmp_path: Path) -> None:
    """class: undetected corruption. WIDTH/POINTS edited down used to drop the last points silently."""
    write_radar_pcd(tmp_path / "r.pcd", _plausible(5))
    data = (tmp_path / "r.pcd").read_bytes().replace(b"WIDTH 5", b"WIDTH 3").replace(b"POINTS 5", b"POINTS 3")
    (tmp_path / "w.pcd").write_bytes(data)
    with pytest.raises(DataError, match=r"w\.pcd \[WIDTH\]: .* not zero padding") as e:
        read_radar_pcd(tmp_path / "w.pcd")
    assert e.value.reason == "corrupt"
    assert len(read_radar_pcd(tmp_path / "r.pcd")) == 5


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("ambig_state", 9, "implausible"),  # used to be filtered out silently
        ("invalid_state", 18, "implausible"),
        ("dyn_prop", -1, "implausible"),
        ("x_rms", 40, "implausible"),
        ("id", -3, "implausible"),
        ("x", 1e30, "implausible"),
        ("vy_comp", -1e6, "implausible"),
        ("rcs", np.inf, "corrupt"),
        ("vx", np.nan, "corrupt"),
    ],
)
def test_implausible_value_names_field(tmp_path: Path, field: str, value: float, reason: str) -> None:
    """class: undetected corruption. A value no ARS 408 writes is a named error, not a point (or a filtered one)."""
    pts = _plausible(6)
    pts[[2, 4], RADAR_FIELDS.index(field)] = value
    write_radar_pcd(tmp_path / "v.pcd", pts)
    with pytest.raises(DataError, match=rf"v\.pcd \[{field}\]: 2 of 6 points") as e:
        read_radar_pcd(tmp_path / "v.pcd", invalid_states=None, dynprop_states=None, ambig_states=None)
    assert e.value.reason == reason and e.value.field == field


def test_nan_first_point_is_an_empty_sweep(tmp_path: Path) -> None:
    """nuScenes writes an empty sweep as one NaN point: (0, 18), like the devkit, not an error."""
    pts = _plausible(1)
    pts[0, :3] = np.nan
    write_radar_pcd(tmp_path / "n.pcd", pts)
    assert read_radar_pcd(tmp_path / "n.pcd").shape == (0, len(RADAR_FIELDS))
