"""The nuScenes detection classes, their categories and attributes (names as the devkit spells them)."""

from __future__ import annotations

from typing import Final

#: The 10 detection classes, in the order used for heatmap channels and label indices.
DETECTION_CLASSES: Final[tuple[str, ...]] = (
    "car",
    "truck",
    "construction_vehicle",
    "bus",
    "trailer",
    "barrier",
    "motorcycle",
    "bicycle",
    "pedestrian",
    "traffic_cone",
)
CLASS_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(DETECTION_CLASSES)}

#: nuScenes category name → detection class (as in ``nuscenes.eval.detection.utils.category_to_detection_name``).
CATEGORY_TO_CLASS: Final[dict[str, str]] = {
    "vehicle.car": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.trailer": "trailer",
    "vehicle.construction": "construction_vehicle",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle",
    "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "barrier",
}

#: The 8 nuScenes attributes, in the order used for the attribute head.
ATTRIBUTES: Final[tuple[str, ...]] = (
    "vehicle.moving",
    "vehicle.parked",
    "vehicle.stopped",
    "pedestrian.moving",
    "pedestrian.standing",
    "pedestrian.sitting_lying_down",
    "cycle.with_rider",
    "cycle.without_rider",
)
ATTRIBUTE_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(ATTRIBUTES)}

#: Attributes a class may carry (the devkit's rule); classes absent here carry none ('').
CLASS_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "car": ("vehicle.moving", "vehicle.parked", "vehicle.stopped"),
    "truck": ("vehicle.moving", "vehicle.parked", "vehicle.stopped"),
    "construction_vehicle": ("vehicle.moving", "vehicle.parked", "vehicle.stopped"),
    "bus": ("vehicle.moving", "vehicle.parked", "vehicle.stopped"),
    "trailer": ("vehicle.moving", "vehicle.parked", "vehicle.stopped"),
    "motorcycle": ("cycle.with_rider", "cycle.without_rider"),
    "bicycle": ("cycle.with_rider", "cycle.without_rider"),
    "pedestrian": ("pedestrian.moving", "pedestrian.standing", "pedestrian.sitting_lying_down"),
}

#: Evaluation range per class in metres (``detection_cvpr_2019``).
CLASS_RANGE: Final[dict[str, float]] = {
    "car": 50.0,
    "truck": 50.0,
    "bus": 50.0,
    "trailer": 50.0,
    "construction_vehicle": 50.0,
    "pedestrian": 40.0,
    "motorcycle": 40.0,
    "bicycle": 40.0,
    "traffic_cone": 30.0,
    "barrier": 30.0,
}

CAMERAS: Final[tuple[str, ...]] = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_FRONT_LEFT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
)
RADARS: Final[tuple[str, ...]] = (
    "RADAR_FRONT",
    "RADAR_FRONT_RIGHT",
    "RADAR_FRONT_LEFT",
    "RADAR_BACK_LEFT",
    "RADAR_BACK_RIGHT",
)
LIDAR: Final[str] = "LIDAR_TOP"
#: The sensor modalities (the model has one encoder per modality; a rig any number of sensors of each).
MODALITIES: Final[tuple[str, ...]] = ("lidar", "camera", "radar")
