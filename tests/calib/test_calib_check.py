"""``sensorfuse calib check`` on the real keyframe: passes as recorded, fails on a broken rig."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from sensorfuse.calib.fit import fit_plane
from sensorfuse.cli import main

pytestmark = pytest.mark.realdata


def test_check_passes_on_the_real_rig_and_writes_overlays(
    real_world_calib: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, version, token = real_world_calib
    out = tmp_path / "out"
    assert (
        main(
            [
                "calib",
                "check",
                "--dataroot",
                str(root),
                "--version",
                version,
                "--sample",
                token,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rep = json.loads((out / "report.json").read_text())
    assert rep["ok"] and set(rep["checks"]) == {
        "rotations",
        "intrinsics",
        "extrinsics",
        "ground_plane",
        "sweep_alignment",
    }
    gp = rep["checks"]["ground_plane"]
    assert abs(gp["lidar_height_above_ground_m"] - 1.84) < 0.05 and gp["tilt_vs_rig_deg"] < 2.0
    assert len(rep["overlays"]) == 6
    img = cv2.imread(str(out / "overlay_CAM_FRONT.jpg"))
    assert img.shape == (450, 800, 3)
    green = (img[:, :, 1] > 200) & (img[:, :, 0] < 80) & (img[:, :, 2] < 80)
    assert green.sum() > 500  # GT boxes are drawn


def test_check_flags_a_broken_rig(real_world_calib: tuple[Path, str, str], tmp_path: Path) -> None:
    src, version, token = real_world_calib
    root = Path(shutil.copytree(src, tmp_path / "w", symlinks=True))
    path = root / version / "calibrated_sensor.json"
    calibs = json.loads(path.read_text())
    lidar = next(c for c in calibs if c["translation"][2] > 1.8)  # LIDAR_TOP
    lidar["translation"][2] += 0.5  # the rig says 2.34 m, the ground says 1.84 m
    cam = next(c for c in calibs if c["camera_intrinsic"])
    cam["camera_intrinsic"][0][2] = 5000.0
    cam["rotation"] = [v * 1.1 for v in cam["rotation"]]
    path.write_text(json.dumps(calibs))
    rc = main(
        [
            "calib",
            "check",
            "--dataroot",
            str(root),
            "--version",
            version,
            "--sample",
            token,
            "--out",
            str(tmp_path / "o"),
        ]
    )
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rc == 1 and not rep["ok"]
    assert (
        not rep["checks"]["ground_plane"]["ok"]
        and abs(rep["checks"]["ground_plane"]["height_error_m"] + 0.5) < 0.05
    )
    assert not rep["checks"]["intrinsics"]["ok"] and not rep["checks"]["rotations"]["ok"]


def test_numpy_plane_fallback_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    import sensorfuse.calib.fit as fit

    rng = np.random.default_rng(0)
    xy = rng.uniform(-20, 20, (3000, 2))
    z = 0.02 * xy[:, 0] - 0.01 * xy[:, 1] - 1.8 + rng.normal(0, 0.02, 3000)
    pts = np.concatenate([np.c_[xy, z], rng.uniform(-20, 20, (500, 3))])
    monkeypatch.setattr(fit, "_open3d", lambda: None)
    plane, n_in, backend = fit_plane(pts)
    assert backend == "numpy" and n_in >= 2900
    expect = np.array([-0.02, 0.01, 1.0, 1.8]) / np.linalg.norm([-0.02, 0.01, 1.0])
    np.testing.assert_allclose(plane, expect, atol=0.01)
