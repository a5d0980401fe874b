"""Every modality carries signal: LiDAR points in boxes, radar on moving actors, class colours in images."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from sensorfuse.synth.camera import CLASS_COLORS


@pytest.fixture(scope="module")
def nusc(synth_world: tuple[Path, str]):  # type: ignore[no-untyped-def]
    from nuscenes.nuscenes import NuScenes

    return NuScenes(version=synth_world[1], dataroot=str(synth_world[0]), verbose=False)


def _class(name: str) -> str | None:
    from nuscenes.eval.detection.utils import category_to_detection_name

    return category_to_detection_name(name)


def test_lidar_points_on_every_class(nusc) -> None:  # type: ignore[no-untyped-def]
    hit: dict[str, int] = {}
    for a in nusc.sample_annotation:
        cls = _class(a["category_name"])
        if cls:
            hit[cls] = hit.get(cls, 0) + int(a["num_lidar_pts"] > 0)
    assert len(hit) == 10 and min(hit.values()) > 0


def test_radar_returns_on_moving_actors(nusc) -> None:  # type: ignore[no-untyped-def]
    moving = nusc.get("attribute", nusc.field2token("attribute", "name", "vehicle.moving")[0])["token"]
    anns = [a for a in nusc.sample_annotation if moving in a["attribute_tokens"]]
    with_radar = [a for a in anns if a["num_radar_pts"] > 0]
    assert len(anns) > 10 and len(with_radar) / len(anns) > 0.3


def test_class_colour_inside_projected_boxes(nusc, synth_world: tuple[Path, str]) -> None:  # type: ignore[no-untyped-def]
    from nuscenes.utils.geometry_utils import view_points

    ok, tried = 0, 0
    for sample in nusc.sample:
        path, boxes, k = nusc.get_sample_data(sample["data"]["CAM_FRONT"])
        img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB).astype(np.float64)
        for box in boxes:
            cls = _class(box.name)
            ann = nusc.get("sample_annotation", box.token)
            if cls is None or ann["visibility_token"] != "4" or np.linalg.norm(box.center) > 30:
                continue
            uv = view_points(box.corners(), k, normalize=True)[:2]
            u0, v0 = np.clip(uv.min(1), 0, [img.shape[1] - 1, img.shape[0] - 1]).astype(int)
            u1, v1 = np.clip(uv.max(1), 0, [img.shape[1] - 1, img.shape[0] - 1]).astype(int)
            patch = img[v0 : v1 + 1, u0 : u1 + 1].reshape(-1, 3)
            if len(patch) < 20:
                continue
            tried += 1
            colour = np.array(CLASS_COLORS[cls], dtype=np.float64)
            chroma = patch / np.maximum(patch.sum(1, keepdims=True), 1)
            close = np.linalg.norm(chroma - colour / colour.sum(), axis=1) < 0.05
            ok += int(close.mean() > 0.2)
    assert tried > 5 and ok / tried > 0.7
