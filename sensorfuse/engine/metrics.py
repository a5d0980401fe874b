"""Official nuScenes detection metrics: submission JSON → ``DetectionEval`` → summary + Markdown report.

Pure functions around the devkit, usable from ``sensorfuse evaluate``, the replay tool, benchmarks and tests.
A *results* mapping is ``sample_token → [box dict]`` in the submission format (global frame, size w,l,h,
rotation wxyz quaternion, see the nuScenes detection challenge); the submission wraps it with ``meta``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sensorfuse.classes import ATTRIBUTES, DETECTION_CLASSES
from sensorfuse.data.accounting import MissingTally
from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

EVAL_CONFIG = "detection_cvpr_2019"
TP_METRICS = ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")
TP_SHORT = {
    "trans_err": "mATE",
    "scale_err": "mASE",
    "orient_err": "mAOE",
    "vel_err": "mAVE",
    "attr_err": "mAAE",
}
_REQUIRED = (
    "sample_token",
    "translation",
    "size",
    "rotation",
    "velocity",
    "detection_name",
    "attribute_name",
)


def submission_meta(sensors: Sequence[str]) -> dict[str, bool]:
    """The submission's ``meta``: ``sensors`` are the modalities the predictions really used."""
    return {
        "use_camera": "camera" in sensors,
        "use_lidar": "lidar" in sensors,
        "use_radar": "radar" in sensors,
        "use_map": False,
        "use_external": False,
    }


def check_results(results: Mapping[str, list[dict[str, Any]]], tokens: Sequence[str], where: str) -> None:
    """Validate a results mapping before the devkit sees it (clear errors instead of devkit asserts).

    Raises:
        DataError: a split sample without an entry, an unknown class/attribute, a non-positive size, a box
            filed under the wrong sample, or more than 500 boxes for one sample.
    """
    missing = [t for t in tokens if t not in results]
    if missing:
        raise DataError(where, f"{len(missing)} split sample(s) have no entry, e.g. {missing[:3]}", "results")
    for token in tokens:
        boxes = results[token]
        if len(boxes) > 500:
            raise DataError(token, f"{len(boxes)} boxes; the devkit allows at most 500 per sample", "results")
        for b in boxes:
            absent = [k for k in _REQUIRED if k not in b]
            if absent:
                raise DataError(token, f"box without key(s) {absent}", "results")
            if b["sample_token"] != token:
                raise DataError(
                    token, f"box filed under another sample ({b['sample_token']})", "sample_token"
                )
            if b["detection_name"] not in DETECTION_CLASSES:
                raise DataError(token, f"unknown class {b['detection_name']!r}", "detection_name")
            if b["attribute_name"] not in ("", *ATTRIBUTES):
                raise DataError(token, f"unknown attribute {b['attribute_name']!r}", "attribute_name")
            if not all(float(s) > 0 for s in b["size"]):
                raise DataError(token, f"box size must be > 0, got {b['size']}", "size")


def write_submission(
    path: str | Path, results: Mapping[str, list[dict[str, Any]]], sensors: Sequence[str]
) -> Path:
    """Write ``{"meta", "results"}`` atomically; returns the path."""
    path = Path(path)
    atomic_write_json(path, {"meta": submission_meta(sensors), "results": dict(results)})
    return path


def load_devkit(dataroot: str | Path, version: str) -> Any:
    """A devkit ``NuScenes`` over checked tables (quiet), see :func:`sensorfuse.sources.nuscenes.index.open_devkit`.

    Raises:
        DataError: no table folder, a bad table (naming file, record and field), or the devkit cannot load
            the tables (its assertion or error quoted).
    """
    from sensorfuse.sources.nuscenes.index import open_devkit

    root = Path(dataroot)
    if not (root / version).is_dir():
        raise DataError(root / version, "no nuScenes tables here (check --dataroot and --version)", "version")
    return open_devkit(root, version)


def split_sample_tokens(nusc: Any, eval_set: str) -> list[str]:
    """The sample tokens the devkit evaluates for ``eval_set`` (official or ``splits.json`` split)."""
    from nuscenes.utils.splits import create_splits_scenes

    scenes = create_splits_scenes()
    if eval_set in scenes:
        names = set(scenes[eval_set])
    else:
        path = Path(nusc.dataroot) / nusc.version / "splits.json"
        custom = json.loads(path.read_text()) if path.is_file() else {}
        if eval_set not in custom:
            raise DataError(path, f"unknown split {eval_set!r}: not official and not in splits.json", "split")
        names = set(custom[eval_set])
    in_scene = {s["token"] for s in nusc.scene if s["name"] in names}
    return [s["token"] for s in nusc.sample if s["scene_token"] in in_scene]


class Truth(Protocol):
    """What predictions are scored against: a split of the devkit's tables (:class:`SplitTruth`) or the
    annotations of recorded drives (:class:`sensorfuse.engine.drive_truth.DriveTruth`)."""

    @property
    def label(self) -> str:
        """How reports name it, e.g. "Split `val`"."""
        ...

    def sample_tokens(self) -> list[str]:
        """The samples scored (every one must have an entry in the results)."""
        ...

    def devkit_eval(self, config: Any, result_path: Path, out: Path) -> Any:
        """The devkit's ``DetectionEval`` over these samples, predictions read from ``result_path``."""
        ...


@dataclass(frozen=True)
class SplitTruth:
    """A split of a nuScenes-format dataroot, scored by the devkit's ``DetectionEval`` as it is."""

    nusc: Any
    split: str

    @property
    def label(self) -> str:
        return f"Split `{self.split}`"

    def sample_tokens(self) -> list[str]:
        return split_sample_tokens(self.nusc, self.split)

    def devkit_eval(self, config: Any, result_path: Path, out: Path) -> Any:
        from nuscenes.eval.detection.evaluate import DetectionEval

        return DetectionEval(
            self.nusc,
            config=config,
            result_path=str(result_path),
            eval_set=self.split,
            output_dir=str(out),
            verbose=False,
        )


#: Where :func:`with_placeholder` puts its box: beyond every class range, so the devkit's distance filter
#: removes it before any matching.
PLACEHOLDER_TRANSLATION = (1.0e7, 1.0e7, 0.0)


def with_placeholder(results: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``results`` (without a single box) plus one box 10,000 km away, for the devkit only.

    The devkit's ``filter_eval_boxes`` reads the class of the first box of a submission and fails on one
    without boxes (a LiDAR-only model with its LiDAR removed detects nothing). The placeholder is dropped
    by the devkit's own distance filter before matching, so the scores are the devkit's for "no
    detections" (AP 0, TP errors 1, NDS 0); the submission written to ``results_nusc.json`` stays empty.
    """
    first = next(iter(results))
    box = {
        "sample_token": first,
        "translation": list(PLACEHOLDER_TRANSLATION),
        "size": [1.0, 1.0, 1.0],
        "rotation": [1.0, 0.0, 0.0, 0.0],
        "velocity": [0.0, 0.0],
        "detection_name": DETECTION_CLASSES[0],
        "detection_score": 0.0,
        "attribute_name": "",
    }
    return {**results, first: [box]}


def score_predictions(
    truth: Truth,
    results: Mapping[str, list[dict[str, Any]]],
    out_dir: str | Path,
    sensors: Sequence[str] = ("lidar", "camera", "radar"),
    render_curves: bool = True,
    title: str = "Detection evaluation",
    accounting: MissingTally | None = None,
) -> dict[str, Any]:
    """Score ``results`` against ``truth`` with the devkit's ``DetectionEval`` (config ``EVAL_CONFIG``).

    Writes into ``out_dir``: ``results_nusc.json`` (the submission; its ``meta`` from ``sensors``, the
    modalities the predictions used), the devkit's ``metrics_summary.json``, ``metrics_details.json`` and
    ``plots/`` (when ``render_curves``), and ``report.md`` (with a "Sensors dropped" section from
    ``accounting``, the sensors left out of the predicted samples, when given).
    Returns the devkit's metrics summary dict (``mean_ap``, ``nd_score``, ``tp_errors``, ``mean_dist_aps``...).
    """
    from nuscenes.eval.common.config import config_factory

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokens = truth.sample_tokens()
    check_results(results, tokens, str(out / "results_nusc.json"))
    only_split = {t: results[t] for t in tokens}
    path = write_submission(out / "results_nusc.json", only_split, sensors)
    with tempfile.TemporaryDirectory(prefix=".sensorfuse-devkit.") as tmp:
        if not any(only_split.values()):  # the devkit cannot read a submission without a single box
            path = write_submission(Path(tmp) / "results_nusc.json", with_placeholder(only_split), sensors)
        ev = truth.devkit_eval(config_factory(EVAL_CONFIG), path, out)
        summary: dict[str, Any] = ev.main(plot_examples=0, render_curves=render_curves)
    report = format_report(summary, title, truth.label, len(tokens))
    if accounting is not None:
        report += format_accounting(accounting, sensors)
    atomic_write_text(out / "report.md", report)
    log.info("%s on %s: mAP %.4f NDS %.4f", title, truth.label, summary["mean_ap"], summary["nd_score"])
    return summary


def _f(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if v != v else f"{v:.4f}"


def format_report(summary: Mapping[str, Any], title: str, scored: str, n_samples: int) -> str:
    """Markdown: headline metrics, the 5 TP errors and the per-class table (AP at each distance + TP errors).

    ``scored`` names what was scored (:attr:`Truth.label`, e.g. "Split `val`").
    """
    lines = [
        f"# {title}",
        "",
        f"{scored} ({n_samples} samples), devkit config `{EVAL_CONFIG}`.",
        "",
    ]
    lines += ["| mAP | NDS | " + " | ".join(TP_SHORT[m] for m in TP_METRICS) + " |"]
    lines += ["|---" * (2 + len(TP_METRICS)) + "|"]
    tp = summary["tp_errors"]
    lines += [
        f"| {_f(summary['mean_ap'])} | {_f(summary['nd_score'])} | "
        + " | ".join(_f(tp[m]) for m in TP_METRICS)
        + " |"
    ]
    dists = sorted(next(iter(summary["label_aps"].values())).keys(), key=float)
    head = ["class", "AP", *(f"AP@{d}" for d in dists), "ATE", "ASE", "AOE", "AVE", "AAE"]
    lines += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for cls in summary["mean_dist_aps"]:
        aps = [_f(summary["label_aps"][cls][d]) for d in dists]
        errs = [_f(summary["label_tp_errors"][cls][m]) for m in TP_METRICS]
        lines.append("| " + " | ".join([cls, _f(summary["mean_dist_aps"][cls]), *aps, *errs]) + " |")
    lines += ["", "Classes without ground truth in the split count as AP 0 (devkit rule).", ""]
    return "\n".join(lines)


def format_accounting(accounting: MissingTally, used: Sequence[str]) -> str:
    """The report's "Sensors dropped" section: the modalities used and the drops per sensor and reason."""
    return (
        "\n## Sensors dropped\n\n"
        f"Modalities used (present in at least one sample): {', '.join(used) or 'none'}. Reason "
        "`not used` = left out on purpose (sensor subset, robustness scenario); any other reason is a data "
        "fault.\n\n" + accounting.format_markdown()
    )


def format_table(rows: Sequence[tuple[str, Mapping[str, Any]]], reference: str | None = None) -> str:
    """One Markdown table, a row per (name, summary); with ``reference``, NDS relative to that row too."""
    ref_nds = next((float(s["nd_score"]) for n, s in rows if n == reference), None)
    head = ["setting", "mAP", "NDS", *(TP_SHORT[m] for m in TP_METRICS)]
    if ref_nds:
        head.append(f"NDS / NDS({reference})")
    out = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, s in rows:
        cells = [name, _f(s["mean_ap"]), _f(s["nd_score"]), *(_f(s["tp_errors"][m]) for m in TP_METRICS)]
        if ref_nds:
            cells.append(f"{100.0 * float(s['nd_score']) / ref_nds:.1f}%")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
