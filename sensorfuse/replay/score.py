"""On-the-fly keyframe scoring: TP/FP/FN per class by greedy centre-distance matching (not the official metric).

Predictions of one class are matched in descending score order to the nearest unmatched ground-truth box of
that class whose xy centre distance is below ``max_dist_m`` (2 m, the devkit's TP threshold). The official
mAP/NDS come from ``sensorfuse evaluate``; this is a quick per-frame sanity signal while replaying.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sensorfuse.classes import DETECTION_CLASSES
from sensorfuse.structures import Boxes3D


@dataclass
class ClassCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: ClassCounts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    def as_dict(self) -> dict[str, float | int | None]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": p, "recall": r}


def match_frame(
    pred: Boxes3D, gt: Boxes3D, max_dist_m: float = 2.0, min_score: float = 0.0
) -> dict[str, ClassCounts]:
    """Per-class TP/FP/FN of one frame (only classes with a prediction or a GT box appear)."""
    out: dict[str, ClassCounts] = {}
    keep = pred.scores >= min_score
    pred = pred.select(keep)
    for c in sorted(set(pred.labels.tolist()) | set(gt.labels.tolist())):
        p = pred.select(pred.labels == c)
        g = gt.select(gt.labels == c)
        order = np.argsort(-p.scores, kind="stable")
        taken = np.zeros(len(g), bool)
        tp = 0
        for i in order:
            if not len(g):
                break
            d = np.linalg.norm(g.boxes[:, :2] - p.boxes[i, :2], axis=1)
            d[taken] = np.inf
            j = int(np.argmin(d))
            if d[j] < max_dist_m:
                taken[j] = True
                tp += 1
        out[DETECTION_CLASSES[int(c)]] = ClassCounts(tp=tp, fp=len(p) - tp, fn=len(g) - tp)
    return out


@dataclass
class ScoreBoard:
    """Accumulates :func:`match_frame` counts over the keyframes of a replay."""

    frames: int = 0
    per_class: dict[str, ClassCounts] = field(default_factory=dict)

    def add(self, counts: dict[str, ClassCounts]) -> None:
        self.frames += 1
        for name, c in counts.items():
            self.per_class.setdefault(name, ClassCounts()).add(c)

    def summary(self) -> dict[str, object]:
        total = ClassCounts()
        for c in self.per_class.values():
            total.add(c)
        return {
            "keyframes_scored": self.frames,
            "match": "greedy by score, xy centre distance < 2 m, per class",
            "all": total.as_dict(),
            "per_class": {k: v.as_dict() for k, v in sorted(self.per_class.items())},
        }
