"""Robustness scenarios: sensor subsets, LiDAR beam thinning, a hidden camera, a stale LiDAR."""

from __future__ import annotations

import numpy as np
import pytest

from sensorfuse.engine.evaluate import scenarios_for
from sensorfuse.engine.robustness import (
    HDL32_LOWEST_DEG,
    HDL32_SPACING_DEG,
    default_matrix,
    hide_camera,
    parse_sensors,
    restrict,
    ring_of,
    stale_lidar,
    thin_beams,
)
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import Transform
from sensorfuse.structures import CameraSet, PointCloud, RadarPoints, SampleMeta, SensorSample


def _sample(token: str = "s1", t_us: int = 1_000_000, x_offset: float = 0.0) -> SensorSample:
    rings = np.arange(32)
    elev = np.radians(HDL32_LOWEST_DEG + HDL32_SPACING_DEG * rings)
    pts = np.zeros((32, 5), np.float32)
    pts[:, 1] = 10.0 * np.cos(elev)
    pts[:, 2] = 10.0 * np.sin(elev)
    g = Transform.from_rt(np.eye(3), [x_offset, 0.0, 0.0]).matrix
    meta = SampleMeta(token, "scene-0103", t_us, g, np.eye(4))
    cams = CameraSet(
        ("CAM_FRONT", "CAM_BACK"),
        np.zeros((2, 8, 8, 3), np.uint8),
        np.tile(np.eye(3), (2, 1, 1)),
        np.tile(np.eye(4), (2, 1, 1)),
        np.ones(2, bool),
    )
    return SensorSample(meta, PointCloud(pts), RadarPoints(np.zeros((3, 7), np.float32)), cams)


def test_ring_binning_and_thinning() -> None:
    s = _sample()
    assert ring_of(s.lidar.points).tolist() == list(range(32))
    assert len(thin_beams(s, 2).lidar) == 16 and len(thin_beams(s, 4).lidar) == 8


def test_restrict_and_hide_camera() -> None:
    s = restrict(_sample(), ("lidar",))
    assert s.cameras is None and s.radar is None and s.lidar is not None
    assert set(s.meta.missing) == {"camera", "radar"}
    h = hide_camera(_sample(), "CAM_FRONT")
    assert h.cameras.present.tolist() == [False, True] and "CAM_FRONT" in h.meta.missing


def test_stale_lidar_moves_old_points_into_the_current_frame() -> None:
    old = _sample("s0", 500_000, x_offset=0.0)
    cur = _sample("s1", 1_000_000, x_offset=2.0)  # the ego moved 2 m along +x
    out = stale_lidar(cur, lambda tok: old if tok == "s0" else cur, "s0")
    np.testing.assert_allclose(out.lidar.points[:, 0], old.lidar.points[:, 0] - 2.0, atol=1e-5)
    np.testing.assert_allclose(out.lidar.points[:, 4], 0.5, atol=1e-6)
    assert (
        "LIDAR_TOP" not in out.meta.missing
    )  # present (stale), not a drop: the submission says lidar is used
    first = stale_lidar(cur, lambda tok: old, None)
    assert first.lidar is None and "LIDAR_TOP" in first.meta.missing


def test_parse_sensors_and_matrix() -> None:
    assert parse_sensors("radar, lidar") == ("lidar", "radar")
    with pytest.raises(ConfigError, match="subset of"):
        parse_sensors("lidar,sonar")
    names = [s.name for s in default_matrix(("lidar", "camera", "radar"))]
    assert names[:7] == [
        "lidar+camera+radar",
        "lidar+camera",
        "lidar+radar",
        "camera+radar",
        "lidar",
        "camera",
        "radar",
    ]
    assert {"lidar_beams_1/4", "no_CAM_FRONT", "no_RADAR_FRONT", "stale_lidar_0.5s"} <= set(names)
    rows = scenarios_for(("lidar", "camera"), None, robustness=True)
    assert rows[0].name == "lidar+camera" and len({r.name for r in rows}) == len(rows)
    with pytest.raises(ConfigError, match="no \\['radar'\\] encoder"):
        scenarios_for(("lidar",), ("lidar", "radar"), robustness=False)


# ----- the corruption suite (issue 25) ------------------------------------------------------------------------


def test_corruption_scenario_loads_gt_only_for_gt_corruptions_and_removes_it() -> None:
    """class: ground truth leaking into the model's inputs — a corruption that reads the boxes gets them loaded
    for its row only, and the edited sample goes to the model without them."""
    from sensorfuse.corrupt.catalog import get
    from sensorfuse.data import SampleConfig
    from sensorfuse.engine.evaluate import scenario_sample_config
    from sensorfuse.engine.robustness import corruption_scenario
    from sensorfuse.structures import Boxes3D

    sc = corruption_scenario(get("lidar_missing_objects"), 2, ("lidar", "camera"), seed=0)
    assert sc.name == "lidar_missing_objects@2" and sc.load_gt
    assert scenario_sample_config(SampleConfig(), sc).load_gt
    plain = corruption_scenario(get("lidar_fog"), 1, ("lidar",), seed=0)
    assert not plain.load_gt and not scenario_sample_config(SampleConfig(), plain).load_gt
    s = _sample()
    s.gt = Boxes3D.empty()
    assert sc.edit is not None and sc.edit(s, lambda t: s, {}).gt is None
    calls: list[tuple[str, int]] = []

    def reload(modality: str, delay_us: int) -> SensorSample:
        calls.append((modality, delay_us))
        return _sample()

    late = corruption_scenario(get("temporal_lidar"), 1, ("lidar",), seed=0)
    assert late.edit is not None
    late.edit(_sample(), lambda t: _sample(), {"reload": reload})
    assert calls == [("lidar", 100_000)]


def test_suite_rows_fingerprints_and_output_folder_checks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """class: stale results mixed in — a row is reused only for the same checkpoint, corruption, severity,
    seed and data, scored by the same code (unless --allow-code-change); a foreign --out folder is refused."""
    import json

    from sensorfuse.corrupt.catalog import select
    from sensorfuse.engine.corrupt_suite import (
        Row,
        check_suite_output,
        fingerprint,
        finished,
        row_dir,
        suite_rows,
    )

    rows = suite_rows(select("camera_fog,lidar_missing"), (2, 3))
    assert [r.key for r in rows] == [("clean", 0), ("lidar_missing", 1), ("camera_fog", 2), ("camera_fog", 3)]
    data = {"version": "v", "split": "s", "tokens_sha256": "t", "dataroot": "/d"}
    row = Row("camera_fog", 2)
    base = fingerprint("m", row, 0, data)
    for other in (
        fingerprint("m2", row, 0, data),
        fingerprint("m", Row("camera_fog", 3), 0, data),
        fingerprint("m", row, 1, data),
        fingerprint("m", row, 0, {**data, "split": "x"}),
    ):
        assert other != base
    assert fingerprint("m", row, 0, dict(reversed(data.items()))) == base
    d = row_dir(tmp_path, row, base)
    d.mkdir(parents=True)
    (d / "row.json").write_text(
        json.dumps({"fingerprint": base, "code_sha256": "c1", "nds": 0.5, "map": 0.4})
    )
    assert finished(tmp_path, row, base, "c1") is not None
    assert finished(tmp_path, row, base, "c2") is None  # other code: evaluated again
    assert finished(tmp_path, row, base, "c2", allow_code_change=True) is not None
    assert finished(tmp_path, Row("camera_fog", 3), base, "c1") is None
    (d / "row.json").write_text("{truncated")
    assert finished(tmp_path, row, base, "c1") is None
    check_suite_output(tmp_path / "new")
    (tmp_path / "table.md").write_text("old")
    check_suite_output(tmp_path)
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match="not part of a corruption suite"):
        check_suite_output(tmp_path)
