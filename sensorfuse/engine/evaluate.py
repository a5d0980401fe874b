"""Evaluate a checkpoint: inference over a split (sharded across torchrun ranks) → submission JSON →
official ``DetectionEval``; optionally the robustness matrix (sensor subsets and degraded sensors).

Output layout of :func:`run_scenarios` (``sensorfuse evaluate`` builds it in a staging folder and publishes
it whole, see :mod:`sensorfuse.engine.evaluate_cli`)::

    out/results_nusc.json  metrics_summary.json  metrics_details.json  plots/*.pdf  report.md
    out/data_accounting.json                          sensors dropped per channel and reason, what was used
    out/robustness/<scenario>/...  out/robustness.md  out/robustness.json     (with robustness=True)

Every sensor left out of a sample is counted per scenario (:class:`~sensorfuse.data.accounting.MissingTally`),
logged, written to the scenario's ``report.md`` and ``data_accounting.json``, and the submission's ``meta``
says which modalities were really used. The main scenario fails when a sensor lost more than
``data.max_missing_fraction`` of its samples to data faults; sensors left out on purpose never fail a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from sensorfuse.corrupt.misalign import reload_for
from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.data.accounting import INTENDED, MissingTally, missing_entry
from sensorfuse.engine.checkpoint import load_checkpoint
from sensorfuse.engine.config import TrainConfig, config_from_dict
from sensorfuse.engine.distributed import DistInfo, all_gather_objects
from sensorfuse.engine.metrics import SplitTruth, format_table, score_predictions
from sensorfuse.engine.robustness import Scenario, default_matrix, restrict
from sensorfuse.errors import ConfigError
from sensorfuse.structures import SensorSample, collate
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def scenario_sample_config(cfg: SampleConfig, scenario: Scenario) -> SampleConfig:
    """How a scenario loads samples: no GT (unless its edit reads it, ``scenario.load_gt``), and only the
    cameras/radars it feeds the model (the LiDAR is always loaded: its keyframe is the reference frame)."""
    drop = set(scenario.drop_channels)
    return replace(
        cfg,
        load_gt=scenario.load_gt,
        cameras=tuple(c for c in cfg.cameras if c not in drop) if "camera" in scenario.sensors else (),
        radars=tuple(r for r in cfg.radars if r not in drop) if "radar" in scenario.sensors else (),
    )


def used_modalities(tally: MissingTally, sensors: Sequence[str], cfg: SampleConfig) -> tuple[str, ...]:
    """The modalities of ``sensors`` present in at least one sample of ``tally`` (channels of ``cfg``)."""
    return tuple(m for m in sensors if tally.present(cfg.channels_for([m])))


class ScenarioDataset(Dataset[SensorSample]):
    """Samples of ``tokens`` loaded for one :class:`Scenario` (sensors restricted, degradations applied).

    Channels the scenario leaves out (``drop_channels``) are recorded in ``meta.missing`` as intended. The
    edit's context offers ``prev`` (the previous keyframe) and ``reload`` (the same keyframe re-assembled with
    one modality's stream late, for temporal misalignment, :class:`sensorfuse.corrupt.misalign.DelayedDrive`).
    """

    def __init__(self, index: NuScenesIndex, tokens: Sequence[str], cfg: SampleConfig, scenario: Scenario):
        self.index, self.tokens, self.scenario = index, list(tokens), scenario
        self.cfg = scenario_sample_config(cfg, scenario)
        self.left_out = {c: missing_entry(INTENDED, "left out (robustness)") for c in scenario.drop_channels}

    def __len__(self) -> int:
        return len(self.tokens)

    def _load(self, token: str) -> SensorSample:
        return load_sample(self.index, token, self.cfg)

    def __getitem__(self, i: int) -> SensorSample:
        token = self.tokens[i]
        sample = restrict(self._load(token), self.scenario.sensors)
        if self.scenario.edit is not None:
            ctx = {
                "prev": self.index.sample(token).get("prev") or None,
                "reload": reload_for(self.index, token, self.cfg),
            }
            sample = self.scenario.edit(sample, self._load, ctx)
        if self.left_out:
            sample.meta = replace(sample.meta, missing={**sample.meta.missing, **self.left_out})
        return sample


@dataclass
class Evaluator:
    """A loaded model plus the data it runs on."""

    model: Any  # FusionDetector
    cfg: TrainConfig
    index: NuScenesIndex
    info: DistInfo
    batch_size: int = 1
    workers: int = 0

    def predict(
        self, tokens: Sequence[str], scenario: Scenario
    ) -> tuple[dict[str, list[dict[str, Any]]], MissingTally]:
        """Submission-format detections for every token, and the sensors dropped from those samples.

        Each rank predicts ``tokens[rank::world]`` and the ranks exchange their results and tallies, so every
        rank returns the full mapping and the whole split's :class:`MissingTally`.
        """
        from tqdm import tqdm

        from sensorfuse.models import to_nuscenes_detections

        mine = list(tokens)[self.info.rank :: self.info.world_size]
        ds = ScenarioDataset(self.index, mine, self.cfg.data.sample, scenario)
        loader = DataLoader(ds, batch_size=self.batch_size, collate_fn=collate, num_workers=self.workers)
        results: dict[str, list[dict[str, Any]]] = {}
        tally = MissingTally()
        self.model.eval()
        with torch.no_grad():
            for batch in tqdm(loader, desc=f"predict {scenario.name}", disable=not self.info.is_main):
                tally.add_all(batch.meta)
                boxes = self.model.predict(batch.to(self.info.device), sensors=scenario.sensors)
                for b, meta in zip(boxes, batch.meta):
                    results[meta.sample_token] = to_nuscenes_detections(b, meta)
        merged: dict[str, list[dict[str, Any]]] = {}
        dropped = MissingTally()
        for part, counts in all_gather_objects((results, tally.to_dict()), self.info):
            merged.update(part)
            dropped.merge(MissingTally.from_dict(counts))
        return {t: merged.get(t, []) for t in tokens}, dropped


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[Any, TrainConfig]:
    """The detector and training config stored in a checkpoint (weights_only load).

    Raises:
        DataError: the weights do not fit the config's model, or hold NaN/inf (before any inference).
    """
    from sensorfuse.engine.checkpoint import load_weights
    from sensorfuse.models import build_detector

    ckpt = load_checkpoint(checkpoint, map_location=device)
    cfg = config_from_dict(ckpt["config"], where=f"{checkpoint} [config]")
    model = build_detector(cfg.model)
    load_weights(model, ckpt["model"], checkpoint)
    return model.to(device).eval(), cfg


def scenarios_for(
    model_sensors: Sequence[str], sensors: Sequence[str] | None, robustness: bool
) -> list[Scenario]:
    """The main scenario (``sensors`` or all the model's) and, with ``robustness``, the matrix."""
    if sensors is not None:
        extra = [s for s in sensors if s not in model_sensors]
        if extra:
            raise ConfigError(
                f"--sensors {','.join(sensors)}: the model has no {extra} encoder (has {list(model_sensors)})"
            )
    main = tuple(sensors) if sensors is not None else tuple(model_sensors)
    rows = [Scenario("+".join(main), main)]
    if robustness:
        rows += [s for s in default_matrix(model_sensors) if s.name != rows[0].name]
    return rows


@dataclass
class ScenarioResult:
    """One evaluated scenario: the devkit's summary, the sensors dropped and the modalities really used."""

    name: str
    summary: dict[str, Any]
    dropped: MissingTally
    used: tuple[str, ...]


def run_scenarios(
    ev: Evaluator, nusc: Any, split: str, scenarios: Sequence[Scenario], out: Path, render_curves: bool = True
) -> list[ScenarioResult]:
    """Predict + evaluate each scenario; the first goes to ``out``, the others to ``out/robustness/<name>``.

    Each scenario's dropped sensors are logged and written to its ``report.md`` and ``data_accounting.json``;
    its submission's ``meta`` names the modalities present in at least one sample. Only rank 0 evaluates and
    writes; other ranks return an empty list.

    Raises:
        DataQualityError: (every rank, before the devkit) a sensor of the first, main scenario lost more than
            ``data.max_missing_fraction`` of its samples to data faults.
    """
    tokens = ev.index.split_tokens(split)
    limit = ev.cfg.data.max_missing_fraction
    done: list[ScenarioResult] = []
    for i, sc in enumerate(scenarios):
        results, dropped = ev.predict(tokens, sc)
        cfg = scenario_sample_config(ev.cfg.data.sample, sc)
        if i == 0:
            dropped.only(cfg.channels_for(sc.sensors)).check(limit, f"evaluate --split {split} ({sc.name})")
        if not ev.info.is_main:
            continue
        log.log(
            logging.WARNING if dropped.total_dropped else logging.INFO,
            "%s: %s",
            sc.name,
            dropped.summary_line(),
        )
        used = used_modalities(dropped, sc.sensors, cfg)
        where = out if i == 0 else out / "robustness" / sc.name.replace("/", "_")
        title = f"Detection evaluation: {sc.name}"
        summary = score_predictions(
            SplitTruth(nusc, split), results, where, used, render_curves and i == 0, title, accounting=dropped
        )
        accounting = {
            "scenario": sc.name,
            "split": split,
            "sensors": list(sc.sensors),
            "used": list(used),
            "max_missing_fraction": limit,
            "checked": i == 0,
            **dropped.to_dict(),
        }
        atomic_write_json(where / "data_accounting.json", accounting, indent=1)
        done.append(ScenarioResult(sc.name, summary, dropped, used))
    return done


def write_robustness(rows: Sequence[tuple[str, dict[str, Any]]], out: Path) -> str:
    """``robustness.md`` (one table, NDS relative to the first row) and ``robustness.json``."""
    table = format_table(rows, reference=rows[0][0])
    atomic_write_text(out / "robustness.md", "# Robustness matrix\n\n" + table)
    keep = ("mean_ap", "nd_score", "tp_errors", "mean_dist_aps")
    atomic_write_json(out / "robustness.json", {n: {k: s[k] for k in keep} for n, s in rows}, indent=1)
    return table
