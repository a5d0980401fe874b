"""Replay outputs: JSONL complete-or-absent, MP4 readable with the right frame count, Rerun file readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorfuse.classes import CAMERAS
from sensorfuse.replay.outputs import JsonlWriter, Mp4Writer, read_jsonl
from sensorfuse.replay.render import bev_image, camera_tiles, mosaic_frame, project_box_edges
from sensorfuse.structures import Boxes3D, CameraSet


def _boxes() -> Boxes3D:
    return Boxes3D(
        boxes=np.array([[2.0, 10.0, 0.0, 4.5, 1.9, 1.6, 0.3, 1.0, 0.0]], np.float32),
        labels=np.array([0]), attributes=np.array([-1]), scores=np.array([0.9], np.float32),
        num_lidar_pts=np.array([-1]), num_radar_pts=np.array([-1]),
    )  # fmt: skip


def _cameras(h: int = 90, w: int = 160) -> CameraSet:
    n = len(CAMERAS)
    k = np.array([[100.0, 0, w / 2], [0, 100.0, h / 2], [0, 0, 1]], np.float32)
    # camera looking along +y of the reference frame (x right, y forward, z up): cam x=ref x, cam y=-ref z, cam z=ref y
    cam_from_ref = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float32)
    present = np.ones(n, bool)
    present[3] = False
    return CameraSet(CAMERAS, np.full((n, h, w, 3), 90, np.uint8), np.repeat(k[None], n, 0),
                     np.repeat(cam_from_ref[None], n, 0), present)  # fmt: skip


def test_jsonl_is_complete_or_absent(tmp_path: Path) -> None:
    path = tmp_path / "det.jsonl"
    w = JsonlWriter(path)
    w.write({"frame": 0, "t": 1})
    assert not path.exists() and w.partial.exists()  # a running replay has no final file yet
    w.write({"frame": 1, "t": 2})
    w.close()
    assert read_jsonl(path) == [{"frame": 0, "t": 1}, {"frame": 1, "t": 2}]
    assert not w.partial.exists()
    with pytest.raises(RuntimeError), JsonlWriter(tmp_path / "bad.jsonl") as w2:
        w2.write({"frame": 0})  # type: ignore[attr-defined]
        raise RuntimeError("interrupted")
    assert not (tmp_path / "bad.jsonl").exists()
    assert list(tmp_path.glob(".bad*")) == []
    with JsonlWriter(tmp_path / "nan.jsonl") as w3, pytest.raises(ValueError):
        w3.write({"x": float("nan")})  # type: ignore[attr-defined]


def test_box_projection_hits_the_image() -> None:
    cams = _cameras()
    edges = project_box_edges(_boxes().boxes, cams.intrinsics[0], cams.cam_from_ref[0])
    assert edges.shape == (1, 12, 2, 2)
    assert np.isfinite(edges).all()
    # centre (2, 10, 0) at depth 10 → u = 80 + 100 * 2 / 10 = 100, v = 45
    mid = edges.reshape(-1, 2).mean(axis=0)
    assert mid == pytest.approx([100.0, 45.0], abs=3.0)
    behind = _boxes()
    behind.boxes[0, 1] = -10.0
    assert np.isnan(project_box_edges(behind.boxes, cams.intrinsics[0], cams.cam_from_ref[0])).all()


def test_mp4_frame_count_and_size(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    lidar = np.random.default_rng(0).normal(0, 10, (500, 5)).astype(np.float32)
    radar = np.zeros((3, 7), np.float32)
    radar[:, 1] = 20.0
    radar[:, 3] = 5.0
    path = tmp_path / "replay.mp4"
    with Mp4Writer(path, fps=10) as mp4:
        for i in range(7):
            bev = bev_image(lidar, radar, _boxes(), _boxes(), size=200)
            tiles = camera_tiles(_cameras(), _boxes(), None, tile_wh=(160, 90))
            mp4.write(mosaic_frame(bev, tiles, [f"frame {i}"]))  # type: ignore[attr-defined]
        assert not path.exists()
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    ok, frame = cap.read()
    assert ok and frame.shape == (200, 200 + 3 * 160, 3)
    cap.release()


def test_rerun_recording_is_written_and_readable(tmp_path: Path) -> None:
    pytest.importorskip("rerun")
    from sensorfuse.replay.rerun_log import RerunRecorder, read_rrd_summary

    path = tmp_path / "replay.rrd"
    lidar = np.random.default_rng(0).normal(0, 10, (100, 5)).astype(np.float32)
    radar = np.ones((4, 7), np.float32)
    with RerunRecorder(path) as rec:
        for i in range(3):
            rec.set_time(i, 1_600_000_000_000_000 + i * 50_000)  # type: ignore[attr-defined]
            rec.log_points(lidar, radar if i != 1 else None)  # type: ignore[attr-defined]
            rec.log_boxes(_boxes(), _boxes())  # type: ignore[attr-defined]
            rec.log_cameras(_cameras(), _boxes(), None)  # type: ignore[attr-defined]
            rec.log_bev(bev_image(lidar, radar, None, None, size=64))  # type: ignore[attr-defined]
            rec.log_latency({"load": 1.0, "head": 2.0}, 3.5)  # type: ignore[attr-defined]
            rec.log_status({} if i else {"CAM_BACK": "absent"})  # type: ignore[attr-defined]
        assert not path.exists()
    assert path.read_bytes()[:4] == b"RRF2"
    info = read_rrd_summary(path)
    assert info["frames"] == [0, 1, 2]
    for entity in ("/world/lidar", "/world/radar/velocity", "/world/pred", "/cameras/CAM_FRONT",
                   "/cameras/CAM_FRONT/pred", "/bev", "/latency/head", "/latency/end_to_end", "/status"):  # fmt: skip
        assert entity in info["entities"], entity
