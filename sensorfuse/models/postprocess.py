"""Predicted boxes (reference frame) → nuScenes detection-submission records (global frame)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sensorfuse.boxes import to_nuscenes, transform_boxes
from sensorfuse.classes import ATTRIBUTES, CLASS_ATTRIBUTES, DETECTION_CLASSES
from sensorfuse.geometry import Transform
from sensorfuse.structures import Boxes3D, SampleMeta

#: Attribute reported when the model gave none for a class that needs one (the usual nuScenes defaults).
DEFAULT_ATTRIBUTE: dict[str, str] = {
    "car": "vehicle.parked",
    "truck": "vehicle.parked",
    "construction_vehicle": "vehicle.parked",
    "bus": "vehicle.moving",
    "trailer": "vehicle.parked",
    "motorcycle": "cycle.without_rider",
    "bicycle": "cycle.without_rider",
    "pedestrian": "pedestrian.moving",
}


def attribute_name(label: int, attribute: int) -> str:
    """A devkit-valid ``attribute_name`` for the class: the prediction if allowed, else the default, or ''."""
    cls = DETECTION_CLASSES[label]
    allowed = CLASS_ATTRIBUTES.get(cls, ())
    if not allowed:
        return ""
    if 0 <= attribute < len(ATTRIBUTES) and ATTRIBUTES[attribute] in allowed:
        return ATTRIBUTES[attribute]
    return DEFAULT_ATTRIBUTE[cls]


def to_nuscenes_detections(boxes: Boxes3D, meta: SampleMeta) -> list[dict[str, Any]]:
    """Detections of one sample in the devkit submission format (``results[sample_token]``).

    Centres, headings and velocities move from the reference frame to global via ``meta.global_from_ref``;
    sizes become w, l, h; rotations wxyz quaternions; velocities global (vx, vy), 0 when unknown.
    """
    if len(boxes) == 0:
        return []
    b = np.asarray(boxes.boxes, dtype=np.float64)
    if b.shape[1] < 9:
        b = np.concatenate([b, np.zeros((len(b), 9 - b.shape[1]))], axis=1)
    b[:, 7:9] = np.nan_to_num(b[:, 7:9])
    g = transform_boxes(b, Transform(meta.global_from_ref))
    translation, size, rotation = to_nuscenes(g)
    out = []
    for i in range(len(g)):
        label = int(boxes.labels[i])
        out.append(
            {
                "sample_token": meta.sample_token,
                "translation": [float(v) for v in translation[i]],
                "size": [float(max(v, 1e-3)) for v in size[i]],
                "rotation": [float(v) for v in rotation[i]],
                "velocity": [float(g[i, 7]), float(g[i, 8])],
                "detection_name": DETECTION_CLASSES[label],
                "detection_score": float(boxes.scores[i]),
                "attribute_name": attribute_name(label, int(boxes.attributes[i])),
            }
        )
    return out
