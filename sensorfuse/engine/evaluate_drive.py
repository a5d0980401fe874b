"""``sensorfuse evaluate --checkpoint C --drive FILE [FILE ...] [--rig RIG] --out DIR``: the official metrics
on recorded drives that carry annotations (e.g. a scene exported by ``sensorfuse export mcap``, or a bag of
one's own rig with ground-truth boxes on the rig's ``annotations`` topic).

Every annotated keyframe of every drive (:func:`sensorfuse.data.keyframes.drive_keyframes`) is loaded by the
one assembler (:func:`sensorfuse.data.keyframes.load_keyframe`), predicted, and scored by the devkit's
``DetectionEval`` against the drives' annotations (:mod:`sensorfuse.engine.drive_truth`). Keyframes are shared
out across torchrun ranks (``[rank::world]`` over all drives' keyframes) and gathered on rank 0, which scores
and publishes ``--out`` whole (:func:`sensorfuse.utils.atomic.atomic_dir`), as ``evaluate`` on a dataroot does.

Before the first sample: every drive opens (its index and calibration checked), has keyframes, and its
ground truth converts (bad boxes named); ``--out`` can take the evaluation. The sensors of the checkpoint's
config that a drive's rig does not have are reported (``absent``) but do not count against
``--max-missing``: that limit is for data faults of the sensors the recording has.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from sensorfuse.data.accounting import MissingTally
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.keyframes import Keyframe, drive_keyframes, load_keyframe, streams_of
from sensorfuse.data.recording import fit_to_recording, open_recordings
from sensorfuse.engine.config import TrainConfig
from sensorfuse.engine.distributed import DistInfo, all_gather_objects
from sensorfuse.errors import ConfigError
from sensorfuse.sources.base import Drive
from sensorfuse.structures import collate
from sensorfuse.sync.core import Message

log = logging.getLogger(__name__)


@dataclass
class DrivePlan:
    """One drive to evaluate: the recording, the sample config fitted to its rig, its keyframes."""

    name: str
    drive: Drive
    cfg: SampleConfig
    keys: list[Keyframe]
    streams: dict[str, list[Message]]

    @property
    def own_channels(self) -> tuple[str, ...]:
        """The channels of ``cfg`` the recording has (the ones whose drops are data faults)."""
        return tuple(
            c for c in self.cfg.channels_for(("lidar", "camera", "radar")) if c in self.drive.sensors
        )


def plan_drives(args: argparse.Namespace, cfg: SampleConfig) -> list[DrivePlan]:
    """Open every drive named by ``--drive`` and list its keyframes (on every rank: opening is an index pass).

    Raises:
        ConfigError: a drive without annotated keyframes.
        DataError: a drive that cannot be opened (named by its reader).
    """
    plans = []
    for name, drive in open_recordings(args, cfg):
        fitted = fit_to_recording(cfg, drive)
        keys = drive_keyframes(drive, fitted.reference)
        if not keys:
            raise ConfigError(
                f"--drive {name}: no annotated keyframes: evaluation needs ground-truth boxes (a MarkerArray "
                "on the rig's `annotations` topic at reference-sensor message times; `sensorfuse drive info` "
                "shows what the rig resolves); `sensorfuse replay` runs without them"
            )
        plans.append(DrivePlan(name, drive, fitted, keys, streams_of(drive)))
    return plans


def _predict(
    model: Any, plans: Sequence[DrivePlan], info: DistInfo, batch_size: int
) -> tuple[dict[str, list[dict[str, Any]]], list[MissingTally], list[Any]]:
    """This rank's share of keyframes: detections per sample id, the drops per drive, the ground truth."""
    from tqdm import tqdm

    from sensorfuse.engine.drive_truth import sample_truth
    from sensorfuse.models import to_nuscenes_detections

    work = [(d, k) for d, p in enumerate(plans) for k in p.keys][info.rank :: info.world_size]
    results: dict[str, list[dict[str, Any]]] = {}
    tallies = [MissingTally() for _ in plans]
    truths = [sample_truth(plans[d].drive, k) for d, k in work]  # bad annotations fail before inference
    with torch.no_grad():
        for start in tqdm(
            range(0, len(work), batch_size), desc="predict drives", unit="batch", disable=not info.is_main
        ):
            samples = []
            for d, key in work[start : start + batch_size]:
                p = plans[d]
                sample = load_keyframe(p.drive, key, p.cfg, p.streams)
                tallies[d].add(sample.meta.missing)
                samples.append(sample)
            batch = collate(samples)
            boxes = model.predict(batch.to(info.device), sensors=model.sensors)
            for b, meta in zip(boxes, batch.meta, strict=True):
                results[meta.sample_token] = to_nuscenes_detections(b, meta)
    return results, tallies, truths


def run_drives(args: argparse.Namespace, info: DistInfo, model: Any, cfg: TrainConfig) -> int:
    """Evaluate ``model`` on the drives of ``--drive`` (see the module docstring); 0 on success."""
    from pathlib import Path

    from sensorfuse.engine.drive_truth import DriveTruth
    from sensorfuse.engine.eval_preflight import check_output, estimate_output_bytes, on_rank0
    from sensorfuse.engine.metrics import score_predictions
    from sensorfuse.utils.atomic import atomic_dir, atomic_write_json

    if args.robustness or args.sensors or args.corruptions is not None:
        raise ConfigError(
            "--drive evaluates the model's own sensors on recorded drives; --robustness, --sensors and "
            "--corruptions work on a nuScenes dataroot (--dataroot)"
        )
    if args.dataroot is not None or args.split is not None or args.version is not None:
        raise ConfigError("--drive evaluates recorded drives: leave out --dataroot/--version/--split")
    out = args.out or Path(args.checkpoint).resolve().parent.parent / "eval"
    sample_cfg = replace(cfg.data.sample, load_gt=False)  # the ground truth is read apart (drive_truth)
    plans = plan_drives(args, sample_cfg)
    n = sum(len(p.keys) for p in plans)
    need = estimate_output_bytes(n, 1, cfg.model.head.max_detections)
    on_rank0(info, lambda: check_output(out, need))
    model.eval()
    results, tallies, truths = _predict(model, plans, info, args.batch_size)
    merged: dict[str, list[dict[str, Any]]] = {}
    gathered: list[MissingTally] = [MissingTally() for _ in plans]
    all_truths: list[Any] = []
    for part, counts, truth in all_gather_objects((results, [t.to_dict() for t in tallies], truths), info):
        merged.update(part)
        for mine, c in zip(gathered, counts, strict=True):
            mine.merge(MissingTally.from_dict(c))
        all_truths += truth
    limit = cfg.data.max_missing_fraction
    for p, tally in zip(plans, gathered, strict=True):
        tally.only(p.own_channels).check(limit, f"evaluate --drive {p.name}")
        lacks = sorted(set(p.cfg.channels_for(model.sensors)) - set(p.own_channels))
        if lacks and info.is_main:
            log.info("%s: the rig has no %s (reported absent, not a data fault)", p.name, ", ".join(lacks))
    if not info.is_main:
        return 0
    dropped = MissingTally()
    for t in gathered:
        dropped.merge(t)
    used = tuple(
        m for m in model.sensors if any(t.present(p.cfg.channels_for([m])) for p, t in zip(plans, gathered))
    )
    order = {k.sample_id: i for i, k in enumerate(k for p in plans for k in p.keys)}
    truth = DriveTruth(sorted(all_truths, key=lambda s: order[s.sample_id]))  # drives and keyframes in order
    names = ", ".join(p.name for p in plans)
    with atomic_dir(out, overwrite=True) as stage:
        summary = score_predictions(
            truth,
            merged,
            stage,
            used,
            render_curves=not args.no_plots,
            title=f"Detection evaluation: {names}",
            accounting=dropped,
        )
        accounting = {
            "drives": {p.name: {"keyframes": len(p.keys), **t.to_dict()} for p, t in zip(plans, gathered)},
            "sensors": list(model.sensors),
            "used": list(used),
            "max_missing_fraction": limit,
            **dropped.to_dict(),
        }
        atomic_write_json(stage / "data_accounting.json", accounting, indent=1)
    log.info("published the evaluation to %s", out)
    print(
        f"{names}: {n} keyframes  mAP {summary['mean_ap']:.4f}  NDS {summary['nd_score']:.4f}  "
        f"(report: {out / 'report.md'})"
    )
    print(f"sensors used: {', '.join(used) or 'none'}; {dropped.summary_line()}")
    return 0
