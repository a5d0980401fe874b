"""sync-report on hand-made tables: offsets, a gap, an out-of-order step, a broken chain; CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorfuse.cli import main
from sensorfuse.errors import DataError
from sensorfuse.sync.report import build_sync_report, report_markdown


def _chain(channel: str, times: list[int], sample_of: dict[int, str], keys: set[int]) -> list[dict]:
    recs = []
    for i, t in enumerate(times):
        recs.append(
            {
                "token": f"{channel}-{i}",
                "sample_token": sample_of[t],
                "calibrated_sensor_token": f"cs-{channel}",
                "ego_pose_token": f"{channel}-{i}",
                "filename": f"sweeps/{channel}/{t}",
                "timestamp": t,
                "is_key_frame": t in keys,
                "prev": f"{channel}-{i - 1}" if i > 0 else "",
                "next": f"{channel}-{i + 1}" if i + 1 < len(times) else "",
            }
        )
    return recs


def make_tables(root: Path) -> Path:
    v = root / "v1.0-mini"
    v.mkdir(parents=True)
    sample_ts = [1_000_000, 1_500_000, 2_000_000]
    samples = [
        {
            "token": f"s{i}",
            "timestamp": t,
            "scene_token": "sc",
            "prev": f"s{i - 1}" if i else "",
            "next": f"s{i + 1}" if i < 2 else "",
        }
        for i, t in enumerate(sample_ts)
    ]

    def owner(t: int) -> str:  # the sample that follows closest in time
        return next((s["token"] for s in samples if s["timestamp"] >= t), "s2")

    lidar_t = list(range(1_000_000, 2_000_001, 50_000))
    cam_t = [t + 10_000 for t in range(950_000, 2_000_001, 83_000)] + [2_040_000]
    cam_keys = {min(cam_t, key=lambda c: abs(c - st)) for st in sample_ts[:2]}  # s2 has no camera keyframe
    cam_t = [t for t in cam_t if not 1_300_000 < t < 1_500_000]  # a ~250 ms gap
    sds = _chain("LIDAR_TOP", lidar_t, {t: owner(t) for t in lidar_t}, set(sample_ts))
    cams = _chain("CAM_FRONT", cam_t, {t: owner(t) for t in cam_t}, cam_keys)
    cams[3]["timestamp"] = cams[2]["timestamp"] - 1  # out of order along the chain
    cams[-1]["next"] = "nope"  # a broken chain
    sds += cams
    tables = {
        "scene": [
            {"token": "sc", "name": "scene-0061", "first_sample_token": "s0", "last_sample_token": "s2"}
        ],
        "sample": samples,
        "sensor": [
            {"token": "L", "channel": "LIDAR_TOP", "modality": "lidar"},
            {"token": "C", "channel": "CAM_FRONT", "modality": "camera"},
        ],
        "calibrated_sensor": [
            {"token": "cs-LIDAR_TOP", "sensor_token": "L"},
            {"token": "cs-CAM_FRONT", "sensor_token": "C"},
        ],
        "sample_data": sds,
    }
    for name, recs in tables.items():
        (v / f"{name}.json").write_text(json.dumps(recs))
    return root


def test_report_counts(tmp_path: Path) -> None:
    rep = build_sync_report(make_tables(tmp_path), "v1.0-mini")
    lid, cam = rep["channels"]["LIDAR_TOP"], rep["channels"]["CAM_FRONT"]
    assert lid["keyframe_offset"]["n"] == 3 and lid["keyframe_offset"]["max_us"] == 0
    assert lid["gaps"] == 0 and lid["out_of_order"] == 0 and lid["chain_breaks"] == 0
    assert lid["median_period_us"] == 50_000
    assert cam["missing_keyframes"] == 1 and cam["keyframe_offset"]["n"] == 2
    assert abs(cam["keyframe_offset"]["max_us"]) <= 42_000
    assert cam["gaps"] >= 1 and cam["max_gap_us"] >= 200_000
    assert cam["out_of_order"] == 1
    assert cam["chain_breaks"] >= 1
    md = report_markdown(rep)
    assert "| CAM_FRONT |" in md and "| LIDAR_TOP |" in md


def test_unknown_scene_and_version(tmp_path: Path) -> None:
    root = make_tables(tmp_path)
    with pytest.raises(DataError, match="scene-9999"):
        build_sync_report(root, "v1.0-mini", scene="scene-9999")
    with pytest.raises(DataError, match=r"v1\.0-trainval"):
        build_sync_report(root, "v1.0-trainval")


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tables(tmp_path / "d")
    out = tmp_path / "rep.json"
    rc = main(
        [
            "sync-report",
            "--dataroot",
            str(root),
            "--version",
            "v1.0-mini",
            "--scene",
            "scene-0061",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    assert "| LIDAR_TOP |" in capsys.readouterr().out
    assert json.loads(out.read_text())["scenes"] == ["scene-0061"]
    assert main(["sync-report", "--dataroot", str(tmp_path / "none"), "--version", "v1.0-mini"]) == 2
