"""``sensorfuse calib check``: sanity checks of a sample's calibration, and overlay images.

Checks (each gives numbers and ``ok``):

* ``rotations``: every sensor's calibrated_sensor quaternion has unit norm and gives an orthonormal,
  det +1 rotation; same for the ego poses of the keyframes.
* ``intrinsics``: each camera K is sane for its image size (:func:`sensorfuse.calib.camera.check_intrinsics`).
* ``extrinsics``: mounts inside a car-sized box around the ego origin, cameras looking roughly
  horizontally, LiDAR and radar z axes roughly up.
* ``ground_plane``: RANSAC plane of the LiDAR keyframe's low points, in the LiDAR frame: the LiDAR's
  height above it and its tilt, against the rig (``ego_from_lidar`` z and ego +z) — the ego frame
  sits on the ground in nuScenes.
* ``sweep_alignment``: the previous LiDAR sweep, ego-motion compensated into the keyframe frame, against
  the keyframe: nearest-neighbour residual (and Open3D ICP's extra correction when available), and the
  same without compensation for comparison.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensorfuse.calib.camera import check_intrinsics
from sensorfuse.calib.fit import fit_plane, icp_correction, nn_residual
from sensorfuse.calib.overlay import draw_overlay
from sensorfuse.classes import CAMERAS, LIDAR, RADARS
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import load_sample
from sensorfuse.errors import DataError
from sensorfuse.geometry import quat_to_matrix
from sensorfuse.sources.nuscenes.chain import ego_from_sensor, global_from_sensor, walk_sweeps
from sensorfuse.sources.nuscenes.index import NuScenesIndex
from sensorfuse.utils.atomic import atomic_write_bytes, atomic_write_json

log = logging.getLogger(__name__)

#: Limits of the plausibility checks.
LIMITS: dict[str, float] = {
    "mount_abs_x_m": 6.0,
    "mount_abs_y_m": 2.5,
    "mount_z_min_m": 0.0,
    "mount_z_max_m": 3.5,
    "camera_pitch_max_deg": 25.0,
    "up_axis_tilt_max_deg": 10.0,
    "ground_height_tol_m": 0.3,
    "ground_tilt_tol_deg": 3.0,
    "sweep_residual_max_m": 0.15,
}


def _rotation_ok(quat: list[float]) -> dict[str, Any]:
    q = np.asarray(quat, dtype=np.float64)
    r = quat_to_matrix(q)
    orth = float(np.abs(r @ r.T - np.eye(3)).max())
    return {
        "quat_norm": float(np.linalg.norm(q)),
        "orthonormal_err": orth,
        "ok": bool(abs(np.linalg.norm(q) - 1) < 1e-3 and orth < 1e-6),
    }


def _channels(index: NuScenesIndex, token: str) -> dict[str, str]:
    data = index.sample(token)["data"]
    return {c: data[c] for c in (LIDAR, *RADARS, *CAMERAS) if c in data}


def check_rotations(index: NuScenesIndex, token: str) -> dict[str, Any]:
    out = {}
    for ch, sd in _channels(index, token).items():
        rec = index.sample_data[sd]
        out[f"{ch}.calib"] = _rotation_ok(index.calib[rec["calib"]]["pose"][3:])
        if rec["ego_pose"] is not None:
            out[f"{ch}.ego_pose"] = _rotation_ok(rec["ego_pose"][3:])
    return {"items": out, "ok": all(v["ok"] for v in out.values())}


def check_intrinsic_values(index: NuScenesIndex, token: str) -> dict[str, Any]:
    out = {}
    for ch, sd in _channels(index, token).items():
        rec = index.sample_data[sd]
        if rec["modality"] != "camera":
            continue
        k = index.calib[rec["calib"]]["intrinsic"]
        probs = (
            ["no camera_intrinsic"]
            if k is None
            else check_intrinsics(np.array(k), rec["width"] or 1600, rec["height"] or 900)
        )
        out[ch] = {"K": k, "problems": probs, "ok": not probs}
    return {"items": out, "ok": all(v["ok"] for v in out.values())}


def check_extrinsics(index: NuScenesIndex, token: str) -> dict[str, Any]:
    lim, out = LIMITS, {}
    for ch, sd in _channels(index, token).items():
        rec = index.sample_data[sd]
        t = ego_from_sensor(index, sd)
        x, y, z = t.translation
        probs = []
        if (
            abs(x) > lim["mount_abs_x_m"]
            or abs(y) > lim["mount_abs_y_m"]
            or not lim["mount_z_min_m"] <= z <= lim["mount_z_max_m"]
        ):
            probs.append(f"mount position ({x:.2f}, {y:.2f}, {z:.2f}) m is outside a car-sized box")
        if rec["modality"] == "camera":
            pitch = float(
                np.degrees(np.arcsin(np.clip(t.rotation[2, 2], -1, 1)))
            )  # optical axis vs horizontal
            if abs(pitch) > lim["camera_pitch_max_deg"]:
                probs.append(f"optical axis {pitch:.1f}° from horizontal")
            angle = pitch
        else:
            angle = float(np.degrees(np.arccos(np.clip(t.rotation[2, 2], -1, 1))))  # sensor z vs ego up
            if angle > lim["up_axis_tilt_max_deg"]:
                probs.append(f"z axis tilted {angle:.1f}° from ego up")
        out[ch] = {
            "translation": [float(x), float(y), float(z)],
            "angle_deg": angle,
            "problems": probs,
            "ok": not probs,
        }
    return {"items": out, "ok": all(v["ok"] for v in out.values())}


def check_ground_plane(index: NuScenesIndex, token: str, lidar_ref: np.ndarray) -> dict[str, Any]:
    """Ground plane of the keyframe sweep (reference = LiDAR frame) against the rig."""
    lidar_tok = index.sample(token)["data"][LIDAR]
    ego_from_lidar = ego_from_sensor(index, lidar_tok)
    pts = lidar_ref[lidar_ref[:, 4] == 0, :3].astype(np.float64)  # the keyframe sweep only
    z_ego = ego_from_lidar.apply(pts)[:, 2]
    rng = np.hypot(pts[:, 0], pts[:, 1])
    cand = pts[(rng > 3) & (rng < 30) & (np.abs(z_ego) < 0.6)]
    if len(cand) < 100:
        return {"ok": False, "problems": [f"only {len(cand)} ground candidate points"]}
    plane, n_in, backend = fit_plane(cand, threshold=0.1)
    height = float(plane[3])  # distance of the LiDAR origin above the plane (normal points up)
    rig_up = ego_from_lidar.inverse().rotation[:, 2]  # ego +z in the LiDAR frame
    tilt = float(np.degrees(np.arccos(np.clip(abs(plane[:3] @ rig_up), -1, 1))))
    rig_height = float(ego_from_lidar.translation[2])
    ok = abs(height - rig_height) < LIMITS["ground_height_tol_m"] and tilt < LIMITS["ground_tilt_tol_deg"]
    return {
        "backend": backend,
        "plane_lidar": plane.tolist(),
        "inliers": n_in,
        "lidar_height_above_ground_m": height,
        "rig_lidar_height_m": rig_height,
        "height_error_m": height - rig_height,
        "tilt_vs_rig_deg": tilt,
        "ok": bool(ok),
    }


def check_sweep_alignment(index: NuScenesIndex, token: str) -> dict[str, Any]:
    """Previous LiDAR sweep vs the keyframe after ego-motion compensation (and without, for contrast)."""
    from sensorfuse.io.lidar_bin import read_lidar_bin

    key = index.sample(token)["data"][LIDAR]
    chain = walk_sweeps(index, key, 2)
    if len(chain) < 2:
        return {"ok": True, "skipped": "the keyframe is the first sweep of its scene"}
    ref_from_global = global_from_sensor(index, key).inverse()

    def cloud(tok: str) -> np.ndarray:
        """Off-ground points 2-30 m away: the ground's ring pattern moves with the car and would
        reward *no* compensation."""
        p = read_lidar_bin(index.path(tok))[:, :3].astype(np.float64)
        r = np.hypot(p[:, 0], p[:, 1])
        z_ego = ego_from_sensor(index, tok).apply(p)[:, 2]
        return p[(r > 2) & (r < 30) & (z_ego > 0.3)]

    target, prev = cloud(chain[0]), cloud(chain[1])
    comp = (ref_from_global @ global_from_sensor(index, chain[1])).apply(prev)
    sub = comp[:: max(1, len(comp) // 5000)]
    res = nn_residual(sub, target)
    raw = nn_residual(prev[:: max(1, len(prev) // 5000)], target)
    out: dict[str, Any] = {
        "compensated": res,
        "uncompensated": raw,
        "dt_s": (index.sample_data[key]["timestamp"] - index.sample_data[chain[1]]["timestamp"]) * 1e-6,
    }
    icp = icp_correction(sub, target)
    if icp is not None:
        out["icp_correction"] = icp
    out["ok"] = bool(res["median_m"] < LIMITS["sweep_residual_max_m"])
    return out


def write_overlays(index: NuScenesIndex, token: str, out_dir: Path) -> tuple[list[str], np.ndarray | None]:
    """One JPEG per camera (at most 800 px wide) with LiDAR, radar and GT drawn; returns file names and the LiDAR."""
    cams = [index.sample_data[t] for c, t in _channels(index, token).items() if c in CAMERAS]
    w0, h0 = (cams[0]["width"] or 1600, cams[0]["height"] or 900) if cams else (1600, 900)
    scale = min(1.0, 800 / w0)
    cfg = SampleConfig(
        lidar_sweeps=1,
        radar_sweeps=1,
        image_size=(max(8, round(h0 * scale)), max(8, round(w0 * scale))),
        image_scale=scale,
        on_missing="drop_sensor",
        drop_empty_boxes=False,
    )
    s = load_sample(index, token, cfg)
    names = []
    if s.cameras is not None:
        for i, ch in enumerate(s.cameras.channels):
            if not s.cameras.present[i]:
                continue
            img = draw_overlay(
                s.cameras.images[i],
                s.cameras.intrinsics[i],
                s.cameras.cam_from_ref[i],
                None if s.lidar is None else s.lidar.points,
                None if s.radar is None else s.radar.points,
                None if s.gt is None else s.gt.boxes,
            )
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                atomic_write_bytes(out_dir / f"overlay_{ch}.jpg", buf.tobytes())
                names.append(f"overlay_{ch}.jpg")
    return names, None if s.lidar is None else s.lidar.points


def run_check(dataroot: str | Path, version: str, sample_token: str, out_dir: str | Path) -> dict[str, Any]:
    """Run every check on one sample, write ``report.json`` and the overlays into ``out_dir``."""
    index = NuScenesIndex(dataroot, version)
    index.sample(sample_token)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    overlays, lidar = write_overlays(index, sample_token, out)
    checks: dict[str, Any] = {
        "rotations": check_rotations(index, sample_token),
        "intrinsics": check_intrinsic_values(index, sample_token),
        "extrinsics": check_extrinsics(index, sample_token),
    }
    if lidar is None:
        raise DataError(
            sample_token, "no usable LIDAR_TOP keyframe: cannot check the ground plane", "LIDAR_TOP"
        )
    checks["ground_plane"] = check_ground_plane(index, sample_token, lidar)
    checks["sweep_alignment"] = check_sweep_alignment(index, sample_token)
    report = {
        "sample_token": sample_token,
        "dataroot": str(dataroot),
        "version": version,
        "limits": LIMITS,
        "checks": checks,
        "overlays": overlays,
        "ok": all(c["ok"] for c in checks.values()),
    }
    atomic_write_json(out / "report.json", report, indent=2)
    return report
