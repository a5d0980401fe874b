"""load_sample on the real keyframe: camera geometry, image resize/crop, GT boxes, index cache, splits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from sensorfuse.calib.camera import in_image, project
from sensorfuse.classes import CLASS_INDEX
from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.data.images import plan_image
from sensorfuse.errors import DataError
from sensorfuse.io.jpeg import decode_jpeg
from sensorfuse.structures import collate

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def info(realdata: Path) -> dict:
    return json.loads((realdata / "nuscenes-mini-sample" / "info.json").read_text())["data_list"][0]


def test_camera_geometry_matches_recorded_lidar2cam(real_world: tuple[Path, str, str], info: dict) -> None:
    root, version, token = real_world
    s = load_sample(NuScenesIndex(root, version), token, SampleConfig())
    assert s.cameras is not None and s.cameras.present.all() and not s.meta.missing
    for i, ch in enumerate(s.cameras.channels):
        rec = np.array(info["images"][ch]["lidar2cam"])
        np.testing.assert_allclose(s.cameras.cam_from_ref[i][:3, :3], rec[:3, :3], atol=5e-4, err_msg=ch)
        np.testing.assert_allclose(s.cameras.cam_from_ref[i][:3, 3], rec[:3, 3], atol=5e-3, err_msg=ch)


def test_resized_image_and_intrinsics_agree(real_world: tuple[Path, str, str], info: dict) -> None:
    """A LiDAR point projects to the same image content in the loaded (reduced, resized, cropped) image."""
    root, version, token = real_world
    idx = NuScenesIndex(root, version)
    cfg = SampleConfig(image_size=(256, 704), load_gt=False)
    s = load_sample(idx, token, cfg)
    assert s.cameras is not None and s.cameras.images.shape == (6, 256, 704, 3)
    plan = plan_image((1600, 900), (256, 704), None)
    assert plan.reduce == 2  # 704 x 396 is reached from the 1/2-size DCT decode
    for i, ch in enumerate(s.cameras.channels):
        full = decode_jpeg(root / idx.sample_data[idx.samples[token]["data"][ch]]["filename"])
        ref = cv2.resize(full, plan.resized_wh, interpolation=cv2.INTER_AREA)
        ref = ref[plan.crop_top : plan.crop_top + 256, plan.crop_left : plan.crop_left + 704]
        assert np.abs(ref.astype(int) - s.cameras.images[i].astype(int)).mean() < 6, ch
        # the same LiDAR point through (full-res K, then the resize/crop pixel map) and through the new K
        pts = s.lidar.points[:, :3].astype(np.float64) if s.lidar is not None else np.zeros((0, 3))
        cam = pts @ s.cameras.cam_from_ref[i][:3, :3].T.astype(np.float64) + s.cameras.cam_from_ref[i][:3, 3]
        uv_new, d = project(cam, s.cameras.intrinsics[i])
        uv_full, _ = project(cam, np.array(info["images"][ch]["cam2img"])[:3, :3])
        sx = plan.resized_wh[0] / 1600
        mapped = (uv_full + 0.5) * sx - 0.5 - [plan.crop_left, plan.crop_top]
        vis = in_image(uv_new, d, 704, 256)
        assert vis.sum() > 200
        np.testing.assert_allclose(uv_new[vis], mapped[vis], atol=0.02)


def test_gt_boxes_in_the_reference_frame_match_info(real_world: tuple[Path, str, str], info: dict) -> None:
    root, version, token = real_world
    s = load_sample(NuScenesIndex(root, version), token, SampleConfig(drop_empty_boxes=False))
    gt = s.gt
    assert gt is not None
    cats = info_inv = {v: k for k, v in {"car": 0, "truck": 1, "trailer": 2, "bus": 3, "construction_vehicle": 4, "bicycle": 5,
                                           "motorcycle": 6, "pedestrian": 7, "traffic_cone": 8, "barrier": 9}.items()}  # fmt: skip
    expected = [i for i in info["instances"] if i["bbox_label_3d"] in cats]
    assert len(gt) == len(expected) < len(info["instances"])  # the non-detection category is dropped
    for k, inst in enumerate(expected):
        b = np.array(inst["bbox_3d"])
        np.testing.assert_allclose(gt.boxes[k, :6], b[:6], atol=2e-3)
        assert abs(np.angle(np.exp(1j * (gt.boxes[k, 6] - b[6])))) < 2e-3
        assert gt.labels[k] == CLASS_INDEX[info_inv[inst["bbox_label_3d"]]]
        assert gt.num_lidar_pts[k] == inst["num_lidar_pts"]
    s2 = load_sample(NuScenesIndex(root, version), token, SampleConfig())
    assert (
        s2.gt is not None and (s2.gt.num_lidar_pts + s2.gt.num_radar_pts > 0).all() and len(s2.gt) < len(gt)
    )


def test_sample_collates_and_radar_is_in_range(real_world: tuple[Path, str, str]) -> None:
    root, version, token = real_world
    s = load_sample(NuScenesIndex(root, version), token)
    assert s.radar is not None and len(s.radar) > 0
    # the radar keyframe fired 16.2 ms after the LiDAR: time lag = t_ref - t_radar < 0
    np.testing.assert_allclose(s.radar.points[:, 6], (1532402927647951 - 1532402927664178) * 1e-6, atol=1e-7)
    assert np.all(np.isfinite(s.radar.points))
    assert s.lidar is not None and np.all(s.lidar.points[:, 4] == 0)  # first sweep of the scene: no history
    b = collate([s, s])
    assert b.batch_size == 2 and b.camera is not None and b.camera.images.shape == (2, 6, 3, 256, 704)


def test_index_errors_cache_and_splits(real_world: tuple[Path, str, str], tmp_path: Path) -> None:
    root, version, token = real_world
    with pytest.raises(DataError, match="dataroot"):
        NuScenesIndex(tmp_path / "nope", version)
    with pytest.raises(DataError, match=r"v1\.0-trainval.*v1\.0-mini"):
        NuScenesIndex(root, "v1.0-trainval")
    idx = NuScenesIndex(root, version, cache_dir=tmp_path / "cache")
    meta = tmp_path / "cache" / f"index_{version}" / "meta.json"  # beside the memory-mapped columns
    assert "fingerprint" in json.loads(meta.read_text())
    assert idx.samples[token]["scene"] == "scene-0061"
    assert idx.split_tokens("mini_train") == [token] and idx.split_tokens("all") == [token]
    with pytest.raises(DataError, match="mini_val"):
        idx.split_tokens("mini_val")
    with pytest.raises(DataError, match="deadbeef"):
        load_sample(idx, "deadbeef")
    built = meta.stat().st_mtime_ns
    st = (root / version / "sample.json").stat()
    os.utime(root / version / "sample.json", ns=(st.st_atime_ns, st.st_mtime_ns))
    NuScenesIndex(root, version, cache_dir=tmp_path / "cache")
    assert meta.stat().st_mtime_ns == built  # the cache is used ...
    os.utime(root / version / "sample.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    try:
        again = NuScenesIndex(root, version, cache_dir=tmp_path / "cache")
        assert meta.stat().st_mtime_ns != built and "scene-0061" in again.scenes  # ... until a table changes
    finally:
        os.utime(root / version / "sample.json", ns=(st.st_atime_ns, st.st_mtime_ns))
