"""Rerun recording of a replay (``.rrd``, open with ``rerun FILE.rrd``), written complete-or-absent.

Entity layout (reference frame = LIDAR_TOP of the frame's trigger sweep):

* ``world/lidar`` points of the newest LiDAR sweep (coloured by height; the model sees all merged sweeps), ``world/radar`` points + ``world/radar/velocity`` arrows (1 s),
  ``world/pred`` and ``world/gt`` 3D boxes;
* ``cameras/<CHANNEL>`` JPEG images with ``cameras/<CHANNEL>/pred`` / ``gt`` projected box edges;
* ``bev`` the BEV raster of the MP4; ``latency/<stage>`` scalars (ms); ``status`` a text log of missing sensors.

Timelines: ``sensor_time`` (the frame's reference time) and ``frame`` (frame number).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.classes import DETECTION_CLASSES
from sensorfuse.errors import ConfigError
from sensorfuse.replay.outputs import _PartialFile
from sensorfuse.replay.render import project_box_edges
from sensorfuse.structures import Boxes3D, CameraSet


def _import_rerun() -> Any:
    try:
        import rerun as rr
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the Rerun recording needs the 'viz' extra (pip install 'sensorfuse[viz]'); or pass --no-rerun"
        ) from e
    return rr


def _box_archetype(rr: Any, boxes: Boxes3D, gt: bool) -> Any:
    b = boxes.boxes
    half = b[:, 3:6] / 2.0
    yaw = b[:, 6]
    # a plain (M, 4) xyzw array: rerun 0.23's Quaternion/Angle objects need numpy 2 (asarray(copy=...))
    zeros = np.zeros_like(yaw)
    quats = np.stack([zeros, zeros, np.sin(yaw / 2), np.cos(yaw / 2)], axis=1).astype(np.float32)
    names = [DETECTION_CLASSES[int(lab)] for lab in boxes.labels]
    labels = names if gt else [f"{n} {s:.2f}" for n, s in zip(names, boxes.scores)]
    return rr.Boxes3D(
        centers=b[:, :3], half_sizes=half, quaternions=quats, class_ids=boxes.labels.astype(np.int64),
        labels=labels, colors=None if not gt else [(255, 255, 255)] * len(b),
    )  # fmt: skip


def newest_sweep(points: np.ndarray, window_s: float = 0.01) -> np.ndarray:
    """Only the points of the newest sweep (time lag in the last column): keeps recordings small."""
    if len(points) == 0:
        return points
    lag = points[:, -1]
    return points[lag <= lag.min() + window_s]


class RerunRecorder(_PartialFile):
    """Logs replay frames into a ``.rrd`` file (a hidden ``.partial`` until :meth:`close`)."""

    def __init__(
        self, path: str | Path, app_id: str = "sensorfuse_replay", recording_id: str | None = None
    ) -> None:
        super().__init__(path, suffix=".rrd")
        self.rr = _import_rerun()
        self.rec = self.rr.RecordingStream(app_id, recording_id=recording_id)
        self.rec.save(str(self.partial))
        self.rec.log("world", self.rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        self.count = 0

    def set_time(self, frame: int, timestamp_us: int) -> None:
        self.rec.set_time("frame", sequence=int(frame))
        self.rec.set_time("sensor_time", timestamp=np.datetime64(int(timestamp_us), "us"))

    def log_points(self, lidar: np.ndarray | None, radar: np.ndarray | None) -> None:
        rr = self.rr
        if lidar is not None:
            lidar = newest_sweep(lidar)
            z = np.clip((lidar[:, 2] + 2.0) / 4.0, 0, 1)
            colors = (np.stack([z, 0.6 * np.ones_like(z), 1 - z], axis=1) * 255).astype(np.uint8)
            self.rec.log("world/lidar", rr.Points3D(lidar[:, :3], colors=colors, radii=0.04))
        else:
            self.rec.log("world/lidar", rr.Clear(recursive=False))
        if radar is not None:
            self.rec.log("world/radar", rr.Points3D(radar[:, :3], colors=(255, 40, 40), radii=0.25))
            vel = np.concatenate([radar[:, 3:5], np.zeros((len(radar), 1), radar.dtype)], axis=1)
            self.rec.log(
                "world/radar/velocity", rr.Arrows3D(origins=radar[:, :3], vectors=vel, colors=(255, 80, 80))
            )
        else:
            self.rec.log("world/radar", rr.Clear(recursive=True))

    def log_boxes(self, pred: Boxes3D | None, gt: Boxes3D | None) -> None:
        for name, boxes, is_gt in (("world/pred", pred, False), ("world/gt", gt, True)):
            if boxes is None or not len(boxes):
                self.rec.log(name, self.rr.Clear(recursive=False))
            else:
                self.rec.log(name, _box_archetype(self.rr, boxes, is_gt))

    def log_cameras(
        self, cameras: CameraSet | None, pred: Boxes3D | None, gt: Boxes3D | None, jpeg_quality: int = 80
    ) -> None:
        import cv2

        rr = self.rr
        if cameras is None:
            self.rec.log("cameras", rr.Clear(recursive=True))
            return
        for i, ch in enumerate(cameras.channels):
            path = f"cameras/{ch}"
            if not bool(cameras.present[i]):
                self.rec.log(path, rr.Clear(recursive=True))
                continue
            bgr = cv2.cvtColor(np.ascontiguousarray(cameras.images[i]), cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if ok:
                self.rec.log(path, rr.EncodedImage(contents=buf.tobytes(), media_type="image/jpeg"))
            for name, boxes in (("pred", pred), ("gt", gt)):
                strips = self._edges(boxes, cameras, i)
                if strips:
                    color = (255, 255, 255) if name == "gt" else (255, 160, 0)
                    self.rec.log(f"{path}/{name}", rr.LineStrips2D(strips, colors=color))
                else:
                    self.rec.log(f"{path}/{name}", rr.Clear(recursive=False))

    @staticmethod
    def _edges(boxes: Boxes3D | None, cameras: CameraSet, i: int) -> list[np.ndarray]:
        if boxes is None or not len(boxes):
            return []
        edges = project_box_edges(
            boxes.boxes, cameras.intrinsics[i], np.asarray(cameras.cam_from_ref[i], np.float64)
        )
        h, w = cameras.images.shape[1:3]
        out = []
        for e in edges.reshape(-1, 2, 2):
            if np.all(np.isfinite(e)) and np.abs(e).max() < 8 * max(h, w):
                out.append(e.astype(np.float32))
        return out

    def log_bev(self, bev_bgr: np.ndarray) -> None:
        self.rec.log("bev", self.rr.Image(bev_bgr[:, :, ::-1].copy()))

    def log_latency(self, stages_ms: Mapping[str, float], total_ms: float | None = None) -> None:
        for name, ms in stages_ms.items():
            self.rec.log(f"latency/{name}", self.rr.Scalars(float(ms)))
        if total_ms is not None:
            self.rec.log("latency/end_to_end", self.rr.Scalars(float(total_ms)))

    def log_status(self, missing: Mapping[str, str]) -> None:
        text = (
            "all sensors present"
            if not missing
            else "missing: " + "; ".join(f"{c}: {r}" for c, r in missing.items())
        )
        level = "INFO" if not missing else "WARN"
        self.rec.log("status", self.rr.TextLog(text, level=level))
        self.count += 1

    def close(self) -> None:
        self.rec.flush(blocking=True)
        self.rec.disconnect()
        self._finish()

    def abort(self) -> None:
        self.rec.disconnect()
        super().abort()


def read_rrd_summary(path: str | Path) -> dict[str, Any]:
    """Load a ``.rrd`` back with ``rerun.dataframe`` (a check that it is readable): entity paths and frame count."""
    _import_rerun()
    import rerun.dataframe as rd

    rec = rd.load_recording(str(path))
    entities = sorted({c.entity_path for c in rec.schema().component_columns()})
    table = rec.view(index="frame", contents="/**").select().read_all()
    frames = table.column("frame").to_pylist() if "frame" in table.column_names else []
    return {"entities": entities, "frames": sorted({int(f) for f in frames if f is not None})}
