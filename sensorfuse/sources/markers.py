"""3D boxes ↔ ``visualization_msgs/MarkerArray`` (what Foxglove and RViz display without plugins).

One array per frame: a ``DELETEALL`` marker first (the viewer drops the previous frame's boxes), then one
``CUBE`` per box in the boxes' frame (``header.frame_id``): ``pose.position`` = the box centre,
``pose.orientation`` = the yaw about +z, ``scale`` = (l, w, h) (:mod:`sensorfuse.boxes` convention), ``ns`` =
the class name, ``color`` from the class, and ``text`` = a JSON object with what a marker has no field for
(``score``, ``vx``, ``vy`` — ``null`` where unknown, read back as NaN — and any per-box ``extra`` such as a ground-truth box's ``attribute``,
``num_lidar_pts``, ``num_radar_pts`` and ``token``; viewers ignore the text of a CUBE). Positions and sizes
are float64 in the message and read back as float64 (global coordinates need it); the yaw goes through the
orientation quaternion (float64 round-off). ``vision_msgs/Detection3DArray`` was not
chosen: rosbags' ROS 2 store lacks it and Foxglove does not draw it without a converter.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.geometry import quat_yaw, yaw_to_quat
from sensorfuse.sources.ros_build import build, header
from sensorfuse.sources.ros_msgs import frame_id, stamp_ns

CUBE, DELETEALL = 1, 3


@dataclass(frozen=True)
class BoxList:
    """Boxes of one frame.

    Attributes:
        frame_id, stamp_ns: the boxes' frame and time (the array's header; 0 for an empty array).
        boxes: (M, 9) float64 ``(x, y, z, l, w, h, yaw, vx, vy)`` (:data:`sensorfuse.structures.BOX_COLUMNS`).
        labels: class name per box.
        scores: (M,) float32 (1 for ground truth).
        extra: per box, the other keys of its ``text`` object (``extra`` of :func:`marker_array`).
    """

    frame_id: str
    stamp_ns: int
    boxes: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    extra: tuple[dict[str, Any], ...] = ()


def _color(label: str) -> dict[str, float]:
    h = zlib.crc32(label.encode()) & 0xFFFFFF
    return {"r": ((h >> 16) & 255) / 255, "g": ((h >> 8) & 255) / 255, "b": (h & 255) / 255, "a": 0.6}


def _velocity(row: np.ndarray, i: int) -> float | None:
    """A velocity component for the JSON text: None (``null``) where unknown (NaN) or not given."""
    v = float(row[i]) if len(row) > i else float("nan")
    return v if np.isfinite(v) else None


def _read_velocity(extra: dict[str, Any], key: str) -> float:
    v = extra.pop(key, None)
    return float("nan") if v is None else float(v)


def marker_array(
    boxes: np.ndarray,
    labels: Sequence[str],
    scores: np.ndarray,
    stamp: int,
    frame: str,
    extra: Sequence[Mapping[str, Any]] | None = None,
) -> Any:
    """A ``visualization_msgs/MarkerArray`` of (M, 7 or 9) boxes (see the module docstring).

    ``extra``: per box, more JSON-serialisable keys for its ``text`` (e.g. ``attribute``, ``token``).
    """
    b = np.asarray(boxes, np.float64)
    b = b.reshape(len(labels), -1) if len(labels) else np.zeros((0, 9))
    hdr = header(stamp, frame)
    markers: list[dict[str, Any]] = [{"header": hdr, "action": DELETEALL}]
    for i, (row, label) in enumerate(zip(b, labels, strict=True)):
        w, x, y, z = yaw_to_quat(float(row[6]))
        text = {
            **(extra[i] if extra is not None else {}),
            "score": float(scores[i]),
            "vx": _velocity(row, 7),
            "vy": _velocity(row, 8),
        }
        markers.append(
            {
                "header": hdr,
                "ns": label,
                "id": i,
                "type": CUBE,
                "pose": {
                    "position": dict(zip("xyz", row[:3].tolist())),
                    "orientation": {"x": x, "y": y, "z": z, "w": w},
                },
                "scale": dict(zip("xyz", row[3:6].tolist())),
                "color": _color(label),
                "text": json.dumps(text),
            }
        )
    return build("visualization_msgs/msg/MarkerArray", markers=markers)


def boxes_from_markers(msg: Any, where: str) -> BoxList:
    """The CUBE markers of a MarkerArray as boxes (other marker types are ignored).

    Raises:
        DataError: a CUBE whose ``text`` is not the JSON written by :func:`marker_array` (score missing),
            or cubes in different frames.
    """
    rows, labels, scores, frames, extras = [], [], [], set(), []
    stamp = stamp_ns(msg.markers[0]) if len(msg.markers) else 0
    for i, m in enumerate(msg.markers):
        if m.type != CUBE or m.action == DELETEALL:
            continue
        try:
            extra = json.loads(m.text) if m.text else {}
            score = float(extra.pop("score", 1.0))
            vx, vy = _read_velocity(extra, "vx"), _read_velocity(extra, "vy")
        except (ValueError, TypeError, AttributeError):
            raise DataError(
                where,
                f"marker {i} text {m.text[:80]!r} is not a JSON object with a score",
                f"markers[{i}].text",
            ) from None
        p, q, s = m.pose.position, m.pose.orientation, m.scale
        rows.append([p.x, p.y, p.z, s.x, s.y, s.z, quat_yaw([q.w, q.x, q.y, q.z]), vx, vy])
        labels.append(str(m.ns))
        scores.append(score)
        frames.add(frame_id(m.header.frame_id))
        extras.append(extra)
    if len(frames) > 1:
        raise DataError(where, f"boxes of one MarkerArray are in several frames: {sorted(frames)}", "markers")
    return BoxList(
        frames.pop() if frames else "",
        stamp,
        np.asarray(rows, np.float64).reshape(-1, 9),
        tuple(labels),
        np.asarray(scores, np.float32),
        tuple(extras),
    )
