"""Replay outputs: detections JSONL, a Rerun recording (``.rrd``), an MP4 and the boxes as MCAP, each
complete-or-absent.

Every writer writes to a hidden ``.<name>.partial*`` sibling and renames it to the final name only in
:meth:`close` (called by ``__exit__`` on success). An interrupted run therefore leaves a ``.partial`` file, never
a file that looks complete; :meth:`abort` (called by ``__exit__`` on an exception) deletes the partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from sensorfuse.errors import ConfigError
from sensorfuse.structures import Boxes3D, SensorSample


class _PartialFile:
    """Base: a final path, a hidden partial path beside it, and rename-on-close."""

    def __init__(self, path: str | Path, suffix: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.name}.partial{suffix}")
        self.closed = False

    def _finish(self) -> None:
        os.replace(self.partial, self.path)
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _PartialFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()


class JsonlWriter(_PartialFile):
    """One JSON object per line, line-buffered into ``.<name>.partial``; renamed to ``path`` on close."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._f: IO[str] | None = self.partial.open("w", encoding="utf-8", buffering=1)
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        if self._f is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._f.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None
        self._finish()

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        super().abort()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file (used by tests and tools); :class:`DataError` naming the line on bad JSON."""
    from sensorfuse.errors import DataError

    out = []
    with Path(path).open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(path, f"line {i} is not valid JSON ({e})", f"line {i}") from e
    return out


class Mp4Writer(_PartialFile):
    """MP4 (``mp4v``) through ``cv2.VideoWriter``; the frame size is fixed by the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        if not fps > 0:
            raise ConfigError(f"MP4 frame rate must be > 0, got {fps}")
        super().__init__(path, suffix=".mp4")  # OpenCV picks the container from the extension
        self.fps = float(fps)
        self._vw: Any = None
        self.size: tuple[int, int] | None = None
        self.count = 0

    def write(self, frame_bgr: np.ndarray) -> None:
        import cv2

        h, w = frame_bgr.shape[:2]
        if self._vw is None:
            self._vw = cv2.VideoWriter(str(self.partial), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h))
            if not self._vw.isOpened():
                raise ConfigError(f"{self.path}: OpenCV could not open an mp4v VideoWriter")
            self.size = (w, h)
        elif (w, h) != self.size:
            frame_bgr = cv2.resize(frame_bgr, self.size)
        self._vw.write(np.ascontiguousarray(frame_bgr, dtype=np.uint8))
        self.count += 1

    def close(self) -> None:
        if self._vw is None:
            self.abort()  # no frames: no file
            return
        self._vw.release()
        self._vw = None
        self._finish()

    def abort(self) -> None:
        if self._vw is not None:
            self._vw.release()
            self._vw = None
        super().abort()


class McapBoxesWriter:
    """Per frame, the detections (and the ground truth, at keyframes) as ``visualization_msgs/MarkerArray`` in
    the global frame (``map``), in an MCAP file that Foxglove opens beside the recording.

    Topics: ``/sensorfuse/detections`` and ``/sensorfuse/ground_truth`` (see :mod:`sensorfuse.sources.markers`;
    each box's ``text`` holds its score and velocity). Written atomically like the other outputs.
    """

    DETECTIONS, GROUND_TRUTH = "/sensorfuse/detections", "/sensorfuse/ground_truth"
    FRAME = "map"

    def __init__(self, path: str | Path) -> None:
        from sensorfuse.sources.bag_writer import McapRos2Writer

        self.path = Path(path)
        self._w = McapRos2Writer(self.path)
        self.count = 0

    def write(self, sample: SensorSample, boxes: Boxes3D | None) -> None:
        """One frame: ``boxes`` (the model's; None or the sample's own GT for a ground-truth replay)."""
        from sensorfuse.boxes import transform_boxes
        from sensorfuse.classes import DETECTION_CLASSES
        from sensorfuse.geometry import Transform
        from sensorfuse.sources.markers import marker_array

        stamp = int(sample.meta.timestamp) * 1000
        global_from_ref = Transform(sample.meta.global_from_ref)
        shown = [(self.GROUND_TRUTH, sample.gt)]
        if boxes is not None and boxes is not sample.gt:
            shown.insert(0, (self.DETECTIONS, boxes))
        for topic, b in shown:
            if b is None:
                continue
            glob = transform_boxes(np.asarray(b.boxes, np.float64), global_from_ref)
            labels = [DETECTION_CLASSES[int(i)] for i in b.labels]
            msg = marker_array(glob, labels, np.asarray(b.scores), stamp, self.FRAME)
            self._w.write(topic, "visualization_msgs/msg/MarkerArray", msg, stamp)
        self.count += 1

    def close(self) -> None:
        self._w.close()

    def abort(self) -> None:
        self._w.abort()
