"""Ground-truth boxes of a keyframe in the reference frame (box convention: :mod:`sensorfuse.boxes`)."""

from __future__ import annotations

import numpy as np

from sensorfuse.boxes import from_nuscenes, transform_boxes
from sensorfuse.classes import ATTRIBUTE_INDEX, CATEGORY_TO_CLASS, CLASS_INDEX
from sensorfuse.data.index import NuScenesIndex
from sensorfuse.geometry import Transform
from sensorfuse.structures import Boxes3D


def load_gt(
    index: NuScenesIndex, sample_token: str, ref_from_global: Transform, drop_empty: bool = True
) -> Boxes3D:
    """Detection-class boxes (M, 9) of a sample in the reference frame.

    Categories outside the 10 detection classes are dropped; with ``drop_empty`` so are boxes with
    ``num_lidar_pts + num_radar_pts == 0`` (as the detection eval does). Velocity is the devkit's
    ``box_velocity`` (global, centred difference) rotated into the reference frame; where the devkit gives
    NaN (an instance seen once) it is 0.
    """
    anns = [index.annotations[t] | {"token": t} for t in index.sample(sample_token)["anns"]]
    anns = [a for a in anns if a["category"] in CATEGORY_TO_CLASS]
    if drop_empty:
        anns = [a for a in anns if a["num_lidar_pts"] + a["num_radar_pts"] > 0]
    if not anns:
        return Boxes3D.empty()
    boxes = from_nuscenes(
        np.array([a["translation"] for a in anns]),
        np.array([a["size"] for a in anns]),
        np.array([a["rotation"] for a in anns]),
    )
    vel = np.array([[0.0 if v is None else v for v in a["velocity"]] for a in anns], dtype=np.float64)
    boxes = transform_boxes(np.concatenate([boxes, vel], axis=1), ref_from_global)
    return Boxes3D(
        boxes=boxes.astype(np.float32),
        labels=np.array([CLASS_INDEX[CATEGORY_TO_CLASS[a["category"]]] for a in anns], np.int64),
        attributes=np.array([ATTRIBUTE_INDEX.get(a["attribute"], -1) for a in anns], np.int64),
        scores=np.ones(len(anns), np.float32),
        num_lidar_pts=np.array([a["num_lidar_pts"] for a in anns], np.int64),
        num_radar_pts=np.array([a["num_radar_pts"] for a in anns], np.int64),
        tokens=tuple(a["token"] for a in anns),
    )
