"""A one-sample nuScenes dataroot rebuilt from ../shared/realdata (real files, real calibration, real GT).

The real keyframe ``ca9a282c9e77460f8360f564131a8af5`` of scene-0061: the LIDAR_TOP sweep, the six
images, RADAR_FRONT (also used, symlinked, for the four other radars), the real calibrated_sensor
records of scene-0061, and the 69 GT boxes of info.json taken back to the global frame. The ego poses at
the camera/radar timestamps are not in realdata: they come from a constant-velocity model fitted to
the recorded ``lidar2cam`` matrices (the same model as tests/calib/test_camera_realdata.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from sensorfuse.boxes import to_nuscenes, transform_boxes
from sensorfuse.geometry import Transform

SAMPLE = "ca9a282c9e77460f8360f564131a8af5"
LABEL_CATEGORY = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "trailer": "vehicle.trailer",
    "bus": "vehicle.bus.rigid",
    "construction_vehicle": "vehicle.construction",
    "bicycle": "vehicle.bicycle",
    "motorcycle": "vehicle.motorcycle",
    "pedestrian": "human.pedestrian.adult",
    "traffic_cone": "movable_object.trafficcone",
    "barrier": "movable_object.barrier",
}
OTHER_CATEGORY = "movable_object.pushable_pullable"


def velocity_model(info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(v, ω) of the ego in its own frame, fitted to the six recorded lidar2cam matrices."""
    g = np.array(info["ego2global"])
    l2e = np.array(info["lidar_points"]["lidar2ego"])
    dts, trans, rotv = [], [], []
    for cam in info["images"].values():
        gc = g @ l2e @ np.linalg.inv(np.array(cam["lidar2cam"])) @ np.linalg.inv(np.array(cam["cam2ego"]))
        delta = np.linalg.inv(g) @ gc
        dts.append(cam["timestamp"] - info["timestamp"])
        trans.append(delta[:3, 3])
        rotv.append(Rotation.from_matrix(delta[:3, :3]).as_rotvec())
    t = np.array(dts)
    return (t[:, None] * np.array(trans)).sum(0) / (t**2).sum(), (t[:, None] * np.array(rotv)).sum(0) / (
        t**2
    ).sum()


def ego_pose_at(info: dict[str, Any], timestamp_us: int) -> Transform:
    v, w = velocity_model(info)
    dt = timestamp_us * 1e-6 - info["timestamp"]
    return Transform(np.array(info["ego2global"])) @ Transform.from_rt(
        Rotation.from_rotvec(w * dt).as_matrix(), v * dt
    )


def _ts(name: str) -> int:
    return int(name.split("__")[-1].split(".")[0])


def build_real_world(realdata: Path, out: Path) -> tuple[Path, str, str]:
    """Write the dataroot into ``out``; returns ``(dataroot, version, sample_token)``."""
    src = realdata / "nuscenes-mini-sample"
    tables_src = realdata / "v1.0-mini-tables"
    info = json.loads((src / "info.json").read_text())["data_list"][0]
    version = "v1.0-mini"
    tdir = out / version
    tdir.mkdir(parents=True)
    real = {
        n: json.loads((tables_src / f"{n}.json").read_text())
        for n in ("category", "attribute", "visibility", "sensor", "calibrated_sensor", "log", "map", "scene")
    }
    log = real["log"][0]
    mp = next(m for m in real["map"] if log["token"] in m["log_tokens"])
    (out / "maps").mkdir()
    cv2.imwrite(str(out / mp["filename"]), np.zeros((20, 20), np.uint8))
    channel_of = {s["token"]: s["channel"] for s in real["sensor"]}
    calibs = real["calibrated_sensor"][:12]
    calib_of = {channel_of[c["sensor_token"]]: c for c in calibs}
    radar_file = next(src.glob("*__RADAR_FRONT__*.pcd")).name
    files = {
        "LIDAR_TOP": info["lidar_points"]["lidar_path"],
        **{c: v["img_path"] for c, v in info["images"].items()},
    }
    files.update(
        {
            c: radar_file
            for c in (
                "RADAR_FRONT",
                "RADAR_FRONT_LEFT",
                "RADAR_FRONT_RIGHT",
                "RADAR_BACK_LEFT",
                "RADAR_BACK_RIGHT",
            )
        }
    )
    lidar_ts = _ts(files["LIDAR_TOP"].replace(".pcd.bin", ""))
    sample_data, ego_poses = [], []
    for ch, fname in files.items():
        (out / "samples" / ch).mkdir(parents=True, exist_ok=True)
        rel = f"samples/{ch}/{fname.replace('RADAR_FRONT', ch)}"
        (out / rel).symlink_to(src / fname)
        ts = lidar_ts if ch == "LIDAR_TOP" else _ts(fname.replace(".pcd.bin", ""))
        pose = Transform(np.array(info["ego2global"])) if ch == "LIDAR_TOP" else ego_pose_at(info, ts)
        tok = f"sd-{ch.lower()}"
        ego_poses.append(
            {
                "token": tok,
                "timestamp": ts,
                "translation": pose.translation.tolist(),
                "rotation": pose.quat.tolist(),
            }
        )
        cam = ch.startswith("CAM")
        sample_data.append(
            {"token": tok, "sample_token": SAMPLE, "ego_pose_token": tok, "calibrated_sensor_token": calib_of[ch]["token"],
             "timestamp": ts, "fileformat": "jpg" if cam else "pcd", "is_key_frame": True, "height": 900 if cam else 0,
             "width": 1600 if cam else 0, "filename": rel, "prev": "", "next": ""}
        )  # fmt: skip
    anns, instances = _annotations(info, real["category"])
    scene = {"token": "scene-tok", "log_token": log["token"], "nbr_samples": 1, "first_sample_token": SAMPLE,
             "last_sample_token": SAMPLE, "name": "scene-0061", "description": "rebuilt from realdata"}  # fmt: skip
    tables = {
        **{n: real[n] for n in ("category", "attribute", "visibility", "sensor")},
        "calibrated_sensor": calibs,
        "log": [log],
        "map": [{**mp, "log_tokens": [log["token"]]}],
        "scene": [scene],
        "sample": [
            {"token": SAMPLE, "timestamp": lidar_ts, "prev": "", "next": "", "scene_token": "scene-tok"}
        ],
        "sample_data": sample_data,
        "ego_pose": ego_poses,
        "instance": instances,
        "sample_annotation": anns,
    }
    for name, recs in tables.items():
        (tdir / f"{name}.json").write_text(json.dumps(recs))
    return out, version, SAMPLE


def _annotations(
    info: dict[str, Any], categories: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = {v: k for k, v in info_categories().items()}
    cat_token = {c["name"]: c["token"] for c in categories}
    global_from_lidar = Transform(np.array(info["ego2global"])) @ Transform(
        np.array(info["lidar_points"]["lidar2ego"])
    )
    boxes = np.array([i["bbox_3d"] for i in info["instances"]], dtype=np.float64)
    t, s, q = to_nuscenes(transform_boxes(boxes, global_from_lidar))
    anns, insts = [], []
    for k, inst in enumerate(info["instances"]):
        cat = LABEL_CATEGORY.get(names.get(inst["bbox_label_3d"], ""), OTHER_CATEGORY)
        anns.append(
            {"token": f"ann-{k}", "sample_token": SAMPLE, "instance_token": f"inst-{k}", "visibility_token": "4",
             "attribute_tokens": [], "translation": t[k].tolist(), "size": s[k].tolist(), "rotation": q[k].tolist(),
             "prev": "", "next": "", "num_lidar_pts": int(inst["num_lidar_pts"]), "num_radar_pts": int(inst["num_radar_pts"])}
        )  # fmt: skip
        insts.append({"token": f"inst-{k}", "category_token": cat_token[cat], "nbr_annotations": 1,
                      "first_annotation_token": f"ann-{k}", "last_annotation_token": f"ann-{k}"})  # fmt: skip
    return anns, insts


def info_categories() -> dict[str, int]:
    return {"car": 0, "truck": 1, "trailer": 2, "bus": 3, "construction_vehicle": 4, "bicycle": 5, "motorcycle": 6,
            "pedestrian": 7, "traffic_cone": 8, "barrier": 9}  # fmt: skip


def copy_world(src: Path, dst: Path) -> Path:
    """A private copy of a dataroot (files copied, not linked, so they can be corrupted)."""
    shutil.copytree(src, dst, symlinks=False)  # the index cache comes along (mtimes are kept)
    return dst
