"""The devkit reads a generated world, and its official detection eval scores GT-as-predictions perfectly."""

import json
from pathlib import Path

import numpy as np
import pytest

from sensorfuse.classes import DETECTION_CLASSES


@pytest.fixture(scope="module")
def nusc(synth_world: tuple[Path, str]):  # type: ignore[no-untyped-def]
    from nuscenes.nuscenes import NuScenes

    root, version = synth_world
    return NuScenes(version=version, dataroot=str(root), verbose=False)


def test_devkit_readers(nusc) -> None:  # type: ignore[no-untyped-def]
    from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud

    sample = nusc.sample[3]
    assert set(sample["data"]) == {s["channel"] for s in nusc.sensor}
    path, boxes, _ = nusc.get_sample_data(sample["data"]["LIDAR_TOP"])
    assert len(boxes) > 10 and LidarPointCloud.from_file(path).points.shape[1] > 10000
    radar_path, _, _ = nusc.get_sample_data(sample["data"]["RADAR_FRONT"])
    assert RadarPointCloud.from_file(radar_path).points.shape[0] == 18
    _, times = LidarPointCloud.from_file_multisweep(nusc, sample, "LIDAR_TOP", "LIDAR_TOP", nsweeps=10)
    assert len(np.unique(times)) == 10
    radar_ms, _ = RadarPointCloud.from_file_multisweep(nusc, sample, "RADAR_FRONT", "LIDAR_TOP", nsweeps=5)
    assert radar_ms.points.shape[1] > 0
    _, cam_boxes, k = nusc.get_sample_data(sample["data"]["CAM_FRONT"])
    assert k.shape == (3, 3) and len(cam_boxes) > 0
    moving = [a for a in nusc.sample_annotation if a["prev"] and a["next"]]
    speeds = [np.linalg.norm(nusc.box_velocity(a["token"])[:2]) for a in moving]
    assert max(speeds) > 3.0 and min(speeds) < 0.1


def test_default_radar_filters_keep_about_half(nusc, synth_world: tuple[Path, str]) -> None:  # type: ignore[no-untyped-def]
    from nuscenes.utils.data_classes import RadarPointCloud

    root = synth_world[0]
    files = [str(root / sd["filename"]) for sd in nusc.sample_data if sd["channel"].startswith("RADAR")][:200]
    kept = sum(RadarPointCloud.from_file(f).points.shape[1] for f in files)
    RadarPointCloud.disable_filters()
    try:
        total = sum(RadarPointCloud.from_file(f).points.shape[1] for f in files)
    finally:
        RadarPointCloud.default_filters()
    assert 0.35 < kept / total < 0.75


def test_num_lidar_pts_equals_devkit_points_in_box(nusc) -> None:  # type: ignore[no-untyped-def]
    from nuscenes.utils.data_classes import LidarPointCloud
    from nuscenes.utils.geometry_utils import points_in_box

    checked, near, near_hit = 0, 0, 0
    for sample in nusc.sample[::3]:
        path, boxes, _ = nusc.get_sample_data(sample["data"]["LIDAR_TOP"])
        pts = LidarPointCloud.from_file(path).points[:3]
        for box in boxes:
            ann = nusc.get("sample_annotation", box.token)
            assert isinstance(ann["num_lidar_pts"], int)
            assert ann["num_lidar_pts"] == int(points_in_box(box, pts).sum()), ann["token"]
            checked += 1
            if np.linalg.norm(box.center[:2]) < 30:
                near += 1
                near_hit += ann["num_lidar_pts"] > 0
    assert checked > 100 and near_hit > 0.6 * near


def _gt_as_predictions(nusc, split: str) -> dict:  # type: ignore[no-untyped-def]
    from nuscenes.eval.detection.utils import category_to_detection_name
    from nuscenes.utils.splits import create_splits_scenes

    scenes = set(create_splits_scenes()[split])
    results: dict[str, list] = {}
    for s in nusc.sample:
        if nusc.get("scene", s["scene_token"])["name"] not in scenes:
            continue
        boxes = []
        for tok in s["anns"]:
            a = nusc.get("sample_annotation", tok)
            name = category_to_detection_name(a["category_name"])
            if name is None or a["num_lidar_pts"] + a["num_radar_pts"] == 0:
                continue  # the eval drops such GT; a prediction for it would be a false positive
            attr = nusc.get("attribute", a["attribute_tokens"][0])["name"] if a["attribute_tokens"] else ""
            boxes.append({
                "sample_token": s["token"], "translation": a["translation"], "size": a["size"],
                "rotation": a["rotation"], "velocity": list(nusc.box_velocity(tok)[:2]),
                "detection_name": name, "detection_score": 1.0, "attribute_name": attr,
            })  # fmt: skip
        results[s["token"]] = boxes
    meta = {
        "use_camera": False,
        "use_lidar": True,
        "use_radar": True,
        "use_map": False,
        "use_external": False,
    }
    return {"meta": meta, "results": results}


def test_official_eval_gt_as_predictions(nusc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval

    (tmp_path / "res.json").write_text(json.dumps(_gt_as_predictions(nusc, "mini_val")))
    ev = DetectionEval(nusc, config_factory("detection_cvpr_2019"), str(tmp_path / "res.json"), "mini_val",
                       str(tmp_path), verbose=False)  # fmt: skip
    gt_classes = {b.detection_name for boxes in ev.gt_boxes.boxes.values() for b in boxes}
    assert gt_classes == set(DETECTION_CLASSES)
    summary = ev.main(plot_examples=0, render_curves=False)
    assert summary["mean_ap"] == pytest.approx(1.0)
    assert summary["nd_score"] == pytest.approx(1.0, abs=1e-3)
