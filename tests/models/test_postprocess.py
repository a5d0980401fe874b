from __future__ import annotations

import numpy as np
from nuscenes.eval.detection.data_classes import DetectionBox

from sensorfuse.classes import ATTRIBUTE_INDEX, CLASS_INDEX
from sensorfuse.geometry import yaw_to_quat
from sensorfuse.models.postprocess import to_nuscenes_detections
from sensorfuse.structures import Boxes3D, SampleMeta


def test_detections_in_global_frame_and_devkit_valid() -> None:
    yaw = np.pi / 2
    g = np.eye(4)
    g[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # global_from_ref: +90 deg about z
    g[:3, 3] = [100.0, 200.0, 1.0]
    meta = SampleMeta("tok", "scene-0001", 0, g, np.eye(4))
    boxes = Boxes3D(
        boxes=np.array(
            [[10, 0, 0, 4.5, 2.0, 1.5, 0.0, 1.0, 0.0], [0, 5, 0, 0.5, 0.5, 1.0, 0.0, 0, 0]], np.float32
        ),
        labels=np.array([CLASS_INDEX["car"], CLASS_INDEX["traffic_cone"]]),
        attributes=np.array([ATTRIBUTE_INDEX["pedestrian.moving"], -1]),  # invalid for a car → default
        scores=np.array([0.9, 0.4], np.float32),
        num_lidar_pts=np.full(2, -1),
        num_radar_pts=np.full(2, -1),
    )
    det = to_nuscenes_detections(boxes, meta)
    car, cone = det
    np.testing.assert_allclose(car["translation"], [100.0, 210.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(car["size"], [2.0, 4.5, 1.5])
    np.testing.assert_allclose(np.abs(car["rotation"]), np.abs(yaw_to_quat(yaw)), atol=1e-6)
    np.testing.assert_allclose(car["velocity"], [0.0, 1.0], atol=1e-6)
    assert car["attribute_name"] == "vehicle.parked" and cone["attribute_name"] == ""
    for rec in det:
        box = DetectionBox.deserialize({**rec, "ego_translation": [0, 0, 0], "num_pts": -1})
        assert box.detection_name == rec["detection_name"]
    assert to_nuscenes_detections(Boxes3D.empty(), meta) == []
