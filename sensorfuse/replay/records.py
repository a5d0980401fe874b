"""The per-frame JSONL record of a replay (one line per frame, documented in ``docs/replay.md``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sensorfuse.replay.frames import Frame
from sensorfuse.structures import Boxes3D, SampleMeta, SensorSample


def _r(x: float, nd: int = 4) -> float | None:
    """Rounded float; None for NaN/inf (JSON has no NaN)."""
    return round(float(x), nd) if math.isfinite(float(x)) else None


def detections_json(boxes: Boxes3D, meta: SampleMeta) -> list[dict[str, Any]]:
    """Boxes as dicts: ``box`` in the reference frame (x, y, z, l, w, h, yaw, vx, vy) plus the nuScenes
    submission fields in the global frame (``translation``, ``size`` w l h, ``rotation`` w x y z, ``velocity``,
    ``detection_name``, ``detection_score``, ``attribute_name``) from :func:`sensorfuse.models.to_nuscenes_detections`."""
    from sensorfuse.models.postprocess import to_nuscenes_detections

    out = []
    for i, rec in enumerate(to_nuscenes_detections(boxes, meta)):
        rec.pop("sample_token", None)  # once per line, not per box
        out.append({"box": [_r(v) for v in boxes.boxes[i]], **{k: _round(v) for k, v in rec.items()}})
    return out


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return _r(v, 6)
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def frame_record(
    frame: Frame,
    sample: SensorSample,
    boxes: Boxes3D,
    source: str,
    scene_start_us: int,
    latency_ms: Mapping[str, float],
    score: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One JSONL line: timing, which sensors were used / missing (and why), detections, latency, score."""
    missing = dict(sample.meta.missing)
    return {
        "frame": frame.trigger.index,
        "timestamp_us": frame.ref_time,
        "time_s": round((frame.ref_time - scene_start_us) / 1e6, 6),
        "is_key_frame": frame.trigger.is_key_frame,
        "sample_token": frame.trigger.sample_token,
        "trigger_token": frame.trigger.clock.token,
        "sensors_used": [c for c in frame.used if c not in missing],
        "sensor_tokens": {c: m.token for c, m in frame.sync.chosen.items() if c not in missing},
        "offsets_us": {c: o for c, o in frame.sync.offsets_us.items() if c not in missing},
        "missing": missing,
        "modalities": {
            "lidar": sample.lidar is not None,
            "radar": sample.radar is not None,
            "camera": sample.cameras is not None,
        },
        "source": source,
        "detections": detections_json(boxes, sample.meta),
        "latency_ms": {k: round(float(v), 3) for k, v in latency_ms.items()},
        "score": dict(score) if score is not None else None,
    }
