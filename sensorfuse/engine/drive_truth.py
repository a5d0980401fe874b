"""The annotations of recorded drives, scored by the devkit's own ``DetectionEval`` (imports the devkit:
import this module where a drive is evaluated, not at start-up).

The devkit reads its ground truth from the nuScenes tables (``load_gt``), which a recorded drive does not
have. :class:`DriveDetectionEval` is ``DetectionEval`` with one change: its ground truth comes from the drives'
annotations (:meth:`sensorfuse.sources.base.Drive.ground_truth`, converted here exactly as ``load_gt`` builds
its boxes). Everything after that is the devkit's code, unchanged: ``load_prediction`` for the submission,
``add_center_dist`` and ``filter_eval_boxes`` (class ranges, boxes without points), ``evaluate`` (matching,
AP, TP errors, NDS), the plots and ``metrics_summary.json``.

``add_center_dist`` and ``filter_eval_boxes`` look records up through ``nusc.get(table, token)``;
:class:`DriveTruth` answers those lookups for the drives' keyframes (the ego position of each sample; no
bicycle-rack annotations, so the devkit's bike-rack filter keeps every box, as it does on a nuScenes sample
without racks).

The ground truth per keyframe, as the devkit's ``load_gt``: translation / size (w, l, h) / rotation in the
global frame, velocity (vx, vy) global — NaN where the recording does not know it (the devkit then leaves the
box out of mAVE) —, the class, the attribute ('' if none), and ``num_pts`` = LiDAR + radar points (-1 when the
recording does not count them: such a box is never filtered as empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes, load_prediction
from nuscenes.eval.detection.data_classes import DetectionBox
from nuscenes.eval.detection.evaluate import DetectionEval

from sensorfuse.boxes import to_nuscenes
from sensorfuse.classes import ATTRIBUTES, DETECTION_CLASSES
from sensorfuse.data.keyframes import Keyframe
from sensorfuse.errors import DataError
from sensorfuse.sources.base import Drive
from sensorfuse.structures import Boxes3D

#: The channel the devkit's ``add_center_dist`` reads the ego pose through (any name would do here).
_EGO_CHANNEL = "LIDAR_TOP"


@dataclass(frozen=True)
class SampleTruth:
    """One keyframe's ground truth, in plain types (it travels between torchrun ranks).

    Attributes:
        sample_id: the keyframe's sample id (the results' ``sample_token``).
        drive: the recording's name (for errors and reports).
        ego_translation: the ego position (global, m) at the keyframe.
        boxes: devkit ``DetectionBox`` fields per box (``translation``, ``size`` w,l,h, ``rotation`` wxyz,
            ``velocity``, ``num_pts``, ``detection_name``, ``attribute_name``).
    """

    sample_id: str
    drive: str
    ego_translation: tuple[float, float, float]
    boxes: tuple[dict[str, Any], ...]


def sample_truth(drive: Drive, key: Keyframe) -> SampleTruth:
    """The ground truth of one keyframe of ``drive`` (see the module docstring).

    Raises:
        DataError: a box with a non-finite centre, size or heading, or a non-positive size (naming the
            drive, the sample and the box).
    """
    ref = key.ref
    global_from_ego = drive.global_from_sensor(ref) @ drive.ego_from_sensor(ref).inverse()
    ego = tuple(float(v) for v in global_from_ego.translation)
    gt = drive.ground_truth(ref)
    boxes = () if gt is None else tuple(_devkit_boxes(gt, f"{drive.name}:{key.sample_id}"))
    return SampleTruth(key.sample_id, drive.name, (ego[0], ego[1], ego[2]), boxes)


def _devkit_boxes(gt: Boxes3D, where: str) -> Iterable[dict[str, Any]]:
    b = np.asarray(gt.boxes, np.float64).reshape(len(gt), -1)
    bad = ~np.isfinite(b[:, :7]).all(axis=1) | ~(b[:, 3:6] > 0).all(axis=1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            where,
            f"annotation box {j} has centre/size/heading {b[j, :7].tolist()}: expected finite values and "
            "sizes > 0",
            f"boxes[{j}]",
            reason="implausible",
        )
    translation, size, rotation = to_nuscenes(b)
    for j in range(len(b)):
        lidar, radar = int(gt.num_lidar_pts[j]), int(gt.num_radar_pts[j])
        attr = int(gt.attributes[j])
        yield {
            "translation": [float(v) for v in translation[j]],
            "size": [float(v) for v in size[j]],
            "rotation": [float(v) for v in rotation[j]],
            "velocity": [float(b[j, 7]), float(b[j, 8])],
            "num_pts": lidar + radar if lidar >= 0 and radar >= 0 else -1,
            "detection_name": DETECTION_CLASSES[int(gt.labels[j])],
            "attribute_name": ATTRIBUTES[attr] if attr >= 0 else "",
        }


class DriveTruth:
    """The ground truth of the keyframes of one or more drives (:class:`sensorfuse.engine.metrics.Truth`).

    Args:
        samples: one :class:`SampleTruth` per keyframe; sample ids must be unique across the drives.

    Raises:
        DataError: two keyframes (of one drive or of two) share a sample id.
    """

    def __init__(self, samples: Sequence[SampleTruth]) -> None:
        self.samples: dict[str, SampleTruth] = {}
        for s in samples:
            other = self.samples.get(s.sample_id)
            if other is not None:
                raise DataError(
                    s.drive,
                    f"sample id {s.sample_id!r} is also a keyframe of {other.drive}: the results could not "
                    "tell them apart (are two of the drives the same recording?)",
                    "keyframes",
                )
            self.samples[s.sample_id] = s
        self.drives = tuple(dict.fromkeys(s.drive for s in samples))

    @property
    def label(self) -> str:
        return f"Drive(s) `{', '.join(self.drives)}`"

    def sample_tokens(self) -> list[str]:
        return list(self.samples)

    def eval_boxes(self) -> Any:
        """The ground truth as the devkit's ``EvalBoxes`` of ``DetectionBox`` es (every keyframe listed,
        including those without boxes)."""
        boxes = EvalBoxes()
        for sid, s in self.samples.items():
            boxes.add_boxes(
                sid,
                [
                    DetectionBox(sample_token=sid, ego_translation=s.ego_translation, **b)  # type: ignore[arg-type]
                    for b in s.boxes
                ],
            )
        return boxes

    def get(self, table: str, token: str) -> Mapping[str, Any]:
        """The records the devkit's ``add_center_dist`` and ``filter_eval_boxes`` look up (see the module
        docstring): a sample (its ego "LiDAR" and no annotations), its sample_data and ego_pose."""
        s = self.samples[token]
        if table == "sample":
            return {"token": token, "data": {_EGO_CHANNEL: token}, "anns": []}
        if table == "sample_data":
            return {"token": token, "ego_pose_token": token}
        if table == "ego_pose":
            return {"token": token, "translation": list(s.ego_translation)}
        raise KeyError(f"DriveTruth has no table {table!r} (the devkit asked for {token})")

    def devkit_eval(self, config: Any, result_path: Path, out: Path) -> Any:
        return DriveDetectionEval(self, config, result_path, out)


class DriveDetectionEval(DetectionEval):  # type: ignore[misc]
    """The devkit's ``DetectionEval`` with the ground truth of :class:`DriveTruth` (see the module docstring).

    Only ``__init__`` differs from the devkit's: ``evaluate``, ``render`` and ``main`` are inherited.

    Raises:
        DataError: the submission's samples are not the drives' keyframes.
    """

    def __init__(self, truth: DriveTruth, config: Any, result_path: Path, output_dir: Path) -> None:
        self.nusc, self.cfg, self.verbose = truth, config, False
        self.result_path, self.eval_set = str(result_path), "drive"
        self.output_dir = str(output_dir)
        self.plot_dir = str(Path(output_dir) / "plots")
        Path(self.plot_dir).mkdir(parents=True, exist_ok=True)
        self.pred_boxes, self.meta = load_prediction(
            self.result_path, config.max_boxes_per_sample, DetectionBox, verbose=False
        )
        self.gt_boxes = truth.eval_boxes()
        pred, gt = set(self.pred_boxes.sample_tokens), set(self.gt_boxes.sample_tokens)
        if pred != gt:
            raise DataError(
                result_path,
                f"{len(pred - gt)} predicted sample(s) are not keyframes of the drives and {len(gt - pred)} "
                f"keyframe(s) have no entry (e.g. {sorted(pred ^ gt)[:3]})",
                "results",
            )
        self.pred_boxes = filter_eval_boxes(
            truth, add_center_dist(truth, self.pred_boxes), config.class_range
        )
        self.gt_boxes = filter_eval_boxes(truth, add_center_dist(truth, self.gt_boxes), config.class_range)
        self.sample_tokens = self.gt_boxes.sample_tokens
