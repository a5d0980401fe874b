"""Evaluate a checkpoint: inference over a split (sharded across torchrun ranks) → submission JSON →
official ``DetectionEval``; optionally the robustness matrix (sensor subsets and degraded sensors).

Output layout of ``evaluate_checkpoint(..., out)``::

    out/results_nusc.json  metrics_summary.json  metrics_details.json  plots/*.pdf  report.md
    out/robustness/<scenario>/...  out/robustness.md  out/robustness.json     (with robustness=True)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.engine.checkpoint import load_checkpoint
from sensorfuse.engine.config import TrainConfig, config_from_dict
from sensorfuse.engine.distributed import DistInfo, all_gather_objects
from sensorfuse.engine.metrics import evaluate_predictions, format_table
from sensorfuse.engine.robustness import Scenario, default_matrix, restrict
from sensorfuse.errors import ConfigError
from sensorfuse.structures import SensorSample, collate
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


class ScenarioDataset(Dataset[SensorSample]):
    """Samples of ``tokens`` loaded for one :class:`Scenario` (sensors restricted, degradations applied)."""

    def __init__(self, index: NuScenesIndex, tokens: Sequence[str], cfg: SampleConfig, scenario: Scenario):
        self.index, self.tokens, self.scenario = index, list(tokens), scenario
        drop = set(scenario.drop_channels)
        self.cfg = replace(
            cfg,
            load_gt=False,
            cameras=tuple(c for c in cfg.cameras if c not in drop),
            radars=tuple(r for r in cfg.radars if r not in drop),
        )

    def __len__(self) -> int:
        return len(self.tokens)

    def _load(self, token: str) -> SensorSample:
        return load_sample(self.index, token, self.cfg)

    def __getitem__(self, i: int) -> SensorSample:
        token = self.tokens[i]
        sample = restrict(self._load(token), self.scenario.sensors)
        if self.scenario.edit is not None:
            ctx = {"prev": self.index.sample(token).get("prev") or None}
            sample = self.scenario.edit(sample, self._load, ctx)
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

    def predict(self, tokens: Sequence[str], scenario: Scenario) -> dict[str, list[dict[str, Any]]]:
        """Submission-format detections for every token; each rank predicts ``tokens[rank::world]`` and the
        ranks exchange their results, so every rank returns the full mapping."""
        from tqdm import tqdm

        from sensorfuse.models import to_nuscenes_detections

        mine = list(tokens)[self.info.rank :: self.info.world_size]
        ds = ScenarioDataset(self.index, mine, self.cfg.data.sample, scenario)
        loader = DataLoader(ds, batch_size=self.batch_size, collate_fn=collate, num_workers=self.workers)
        results: dict[str, list[dict[str, Any]]] = {}
        self.model.eval()
        with torch.no_grad():
            for batch in tqdm(loader, desc=f"predict {scenario.name}", disable=not self.info.is_main):
                boxes = self.model.predict(batch.to(self.info.device), sensors=scenario.sensors)
                for b, meta in zip(boxes, batch.meta):
                    results[meta.sample_token] = to_nuscenes_detections(b, meta)
        merged: dict[str, list[dict[str, Any]]] = {}
        for part in all_gather_objects(results, self.info):
            merged.update(part)
        return {t: merged.get(t, []) for t in tokens}


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[Any, TrainConfig]:
    """The detector and training config stored in a checkpoint (weights_only load)."""
    from sensorfuse.models import build_detector

    ckpt = load_checkpoint(checkpoint, map_location=device)
    cfg = config_from_dict(ckpt["config"], where=f"{checkpoint} [config]")
    model = build_detector(cfg.model)
    model.load_state_dict(ckpt["model"])
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


def run_scenarios(
    ev: Evaluator, nusc: Any, split: str, scenarios: Sequence[Scenario], out: Path, render_curves: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """Predict + evaluate each scenario; the first goes to ``out``, the others to ``out/robustness/<name>``.
    Only rank 0 evaluates; other ranks return an empty list."""
    tokens = ev.index.split_tokens(split)
    rows: list[tuple[str, dict[str, Any]]] = []
    for i, sc in enumerate(scenarios):
        results = ev.predict(tokens, sc)
        if not ev.info.is_main:
            continue
        where = out if i == 0 else out / "robustness" / sc.name.replace("/", "_")
        title = f"Detection evaluation: {sc.name}"
        summary = evaluate_predictions(
            nusc, results, split, where, sc.sensors, render_curves and i == 0, title
        )
        rows.append((sc.name, summary))
    return rows


def write_robustness(rows: Sequence[tuple[str, dict[str, Any]]], out: Path) -> str:
    """``robustness.md`` (one table, NDS relative to the first row) and ``robustness.json``."""
    table = format_table(rows, reference=rows[0][0])
    atomic_write_text(out / "robustness.md", "# Robustness matrix\n\n" + table)
    keep = ("mean_ap", "nd_score", "tp_errors", "mean_dist_aps")
    atomic_write_json(out / "robustness.json", {n: {k: s[k] for k in keep} for n, s in rows}, indent=1)
    return table
