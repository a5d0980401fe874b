"""A full-split evaluation at trainval scale: where the time goes (issue 27).

``python -m sensorfuse.bench.eval_scale --dataroot D --version v1.0-trainval --split val --checkpoint C
--out FILE.json`` measures the two halves of ``sensorfuse evaluate`` on the whole split:

* **inference** (sharded across torchrun ranks by ``evaluate``: ``tokens[rank::world]``): per keyframe, the
  loading (``load_sample`` as the evaluation loads it: the model's sensors, no ground truth) and the model
  (``predict``), over ``--infer-samples`` keyframes spread evenly over the split, in this process (the threads
  torch chooses). The split's inference time is ``N x (load + model) / ranks``.
* **the devkit's evaluation** (rank 0 alone, after the inference), on a submission of the split's full size:
  every keyframe with ``--boxes`` boxes (the model's ``head.max_detections``): its ground truth moved by
  0.5 m noise and given random scores, filled up with low-score boxes around the ego vehicle (seeded). Timed
  stage by stage as ``DetectionEval`` runs them, through the devkit's own functions: the tables
  (:func:`~sensorfuse.engine.metrics.load_devkit`: checks + ``NuScenes``), writing the submission,
  ``load_prediction``, ``load_gt``, ``add_center_dist``, ``filter_eval_boxes``, ``evaluate`` (matching, AP,
  TP errors) — and the peak RSS of the process.

The two halves are independent: the devkit's time does not depend on what the model predicts, only on how
many boxes it writes (which is why the submission has the model's box count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def _timed(times: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    out = fn()
    times[name] = round(time.perf_counter() - t0, 3)
    print(f"  {name}: {times[name]:.1f} s", flush=True)
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_inference(index: Any, tokens: list[str], checkpoint: Path, n: int) -> dict[str, Any]:
    """Per-keyframe load and model time (ms, median and mean) over ``n`` keyframes spread over ``tokens``."""
    import torch

    from sensorfuse.data import load_sample
    from sensorfuse.engine.evaluate import load_model, scenario_sample_config
    from sensorfuse.engine.robustness import Scenario
    from sensorfuse.structures import collate

    model, cfg = load_model(checkpoint, torch.device("cpu"))
    sample_cfg = scenario_sample_config(cfg.data.sample, Scenario("main", tuple(model.sensors)))
    pick = [tokens[int(i)] for i in np.linspace(0, len(tokens) - 1, min(n, len(tokens)))]
    load_ms, model_ms = [], []
    with torch.no_grad():
        model.predict(collate([load_sample(index, pick[0], sample_cfg)]), sensors=model.sensors)  # warm-up
        for tok in pick:
            t0 = time.perf_counter()
            batch = collate([load_sample(index, tok, sample_cfg)])
            t1 = time.perf_counter()
            model.predict(batch, sensors=model.sensors)
            t2 = time.perf_counter()
            load_ms.append((t1 - t0) * 1e3)
            model_ms.append((t2 - t1) * 1e3)
    per = float(np.mean(load_ms) + np.mean(model_ms))
    return {
        "samples": len(pick),
        "torch_threads": torch.get_num_threads(),
        "load_ms": {"median": float(np.median(load_ms)), "mean": float(np.mean(load_ms))},
        "model_ms": {"median": float(np.median(model_ms)), "mean": float(np.mean(model_ms))},
        "per_sample_ms": per,
        "split_inference_s": {str(r): round(len(tokens) * per / 1e3 / r, 1) for r in (1, 2, 4, 8)},
    }


def fake_submission(
    index: Any, tokens: list[str], boxes: int, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """A submission of the split's full size (see the module docstring), in the devkit's format."""
    from sensorfuse.classes import CATEGORY_TO_CLASS, DETECTION_CLASSES

    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for tok in tokens:
        s = index.sample(tok)
        ego = np.asarray(index.sample_data[s["data"]["LIDAR_TOP"]]["ego_pose"][:3], np.float64)
        rows: list[dict[str, Any]] = []
        for a in (index.annotations[t] for t in s["anns"]):
            name = CATEGORY_TO_CLASS.get(a["category"])
            if name is None or len(rows) >= boxes:
                continue
            rows.append(_box(tok, np.asarray(a["translation"]) + rng.normal(0, 0.5, 3), a["size"],
                             a["rotation"], name, float(rng.uniform(0.3, 1.0)), rng))  # fmt: skip
        while len(rows) < boxes:
            xy = ego[:2] + rng.uniform(-50, 50, 2)
            name = DETECTION_CLASSES[int(rng.integers(len(DETECTION_CLASSES)))]
            rows.append(_box(tok, np.array([xy[0], xy[1], 1.0]), [2.0, 4.5, 1.6], [1.0, 0.0, 0.0, 0.0], name,
                             float(rng.uniform(0.0, 0.3)), rng))  # fmt: skip
        out[tok] = rows
    return out


def _box(tok: str, t: np.ndarray, size: Any, rot: Any, name: str, score: float, rng: Any) -> dict[str, Any]:
    return {
        "sample_token": tok,
        "translation": [float(v) for v in t],
        "size": [float(v) for v in size],
        "rotation": [float(v) for v in rot],
        "velocity": [float(v) for v in rng.normal(0, 2, 2)],
        "detection_name": name,
        "detection_score": score,
        "attribute_name": "",
    }


def _write_submission(
    path: Path, index: Any, tokens: list[str], boxes: int, times: dict[str, float]
) -> float:
    """The full-size submission written to ``path`` (its making and its writing timed); its size in MB."""
    from sensorfuse.engine.metrics import submission_meta

    results = _timed(times, "make the submission", lambda: fake_submission(index, tokens, boxes))
    meta = submission_meta(("lidar", "camera", "radar"))
    text = _timed(times, "submission to JSON", lambda: json.dumps({"meta": meta, "results": results}))
    path.write_text(text)
    return len(text) / 1e6


def measure_devkit(
    root: Path, version: str, split: str, index: Any, tokens: list[str], boxes: int
) -> dict[str, Any]:
    """The devkit's evaluation of a full-size submission, stage by stage (see the module docstring)."""
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes, load_gt, load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox
    from nuscenes.eval.detection.evaluate import DetectionEval

    from sensorfuse.engine.metrics import EVAL_CONFIG, load_devkit

    times: dict[str, float] = {}
    cfg = config_factory(EVAL_CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results_nusc.json"
        size_mb = _write_submission(path, index, tokens, boxes, times)
        nusc = _timed(times, "tables (checks + NuScenes)", lambda: load_devkit(root, version))
        pred, _ = _timed(
            times,
            "load_prediction",
            lambda: load_prediction(str(path), cfg.max_boxes_per_sample, DetectionBox),
        )
        gt = _timed(times, "load_gt", lambda: load_gt(nusc, split, DetectionBox))
        _timed(times, "add_center_dist", lambda: (add_center_dist(nusc, pred), add_center_dist(nusc, gt)))
        pred = _timed(
            times, "filter_eval_boxes (pred)", lambda: filter_eval_boxes(nusc, pred, cfg.class_range)
        )
        gt = _timed(times, "filter_eval_boxes (gt)", lambda: filter_eval_boxes(nusc, gt, cfg.class_range))
        ev = DetectionEval.__new__(DetectionEval)  # the devkit's evaluate() on the boxes loaded above
        ev.cfg, ev.gt_boxes, ev.pred_boxes, ev.verbose = cfg, gt, pred, False
        metrics, _ = _timed(times, "evaluate (match, AP, TP)", ev.evaluate)
    n_gt = sum(len(gt[t]) for t in gt.sample_tokens)
    n_pred = sum(len(pred[t]) for t in pred.sample_tokens)
    return {
        "boxes_per_sample": boxes,
        "submission_mb": round(size_mb, 1),
        "gt_boxes_after_filter": n_gt,
        "pred_boxes_after_filter": n_pred,
        "stages_s": times,
        "devkit_total_s": round(sum(v for k, v in times.items() if k != "make the submission"), 1),
        "nds": float(metrics.nd_score),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataroot", type=Path, required=True)
    p.add_argument("--version", default="v1.0-trainval")
    p.add_argument("--split", default="val")
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="for the inference half (left out without it)"
    )
    p.add_argument("--infer-samples", type=int, default=120)
    p.add_argument(
        "--boxes", type=int, default=None, help="boxes per sample (default: the checkpoint's, else 300)"
    )
    p.add_argument("--no-devkit", action="store_true", help="time the inference only")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    from sensorfuse.sources.nuscenes import NuScenesIndex
    from sensorfuse.sources.nuscenes.index import check_split
    from sensorfuse.utils.atomic import atomic_write_json

    t0 = time.perf_counter()
    index = NuScenesIndex(args.dataroot, args.version)
    tokens = check_split(index, args.split, evaluation=True)
    report: dict[str, Any] = {
        "dataroot": str(args.dataroot),
        "version": args.version,
        "split": args.split,
        "keyframes": len(tokens),
        "index_open_and_split_check_s": round(time.perf_counter() - t0, 2),
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
    }
    boxes = args.boxes or 300
    print(f"{len(tokens)} keyframes in {args.split}", flush=True)
    if args.checkpoint is not None:
        from sensorfuse.engine.checkpoint import load_checkpoint

        ckpt_boxes = load_checkpoint(args.checkpoint)["config"]["model"]["head"]["max_detections"]
        boxes = args.boxes or int(ckpt_boxes)
        print("inference:", flush=True)
        report["inference"] = measure_inference(index, tokens, args.checkpoint, args.infer_samples)
        print(f"  {report['inference']['per_sample_ms']:.0f} ms per keyframe", flush=True)
    if not args.no_devkit:
        print("devkit:", flush=True)
        report["devkit"] = measure_devkit(args.dataroot, args.version, args.split, index, tokens, boxes)
    atomic_write_json(args.out, report, indent=1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
