"""``sensorfuse evaluate --corruptions all|NAME,... [--severities 1,2,3] [--baseline C2]``: the corruption suite.

One official evaluation (:func:`~sensorfuse.engine.metrics.score_predictions`) per corruption x severity,
plus the clean row, sharded across torchrun ranks like ``evaluate`` (each rank predicts its share, rank 0
runs the devkit), then the table, mRR / mCE and a heat map (:mod:`sensorfuse.corrupt.report`).

Output folder (``--out``, default ``<checkpoint dir>/../corruptions``)::

    out/rows/<corruption>-s<k>-<fingerprint[:12]>/   one finished row: the devkit's output, report.md,
                                                      data_accounting.json, row.json (fingerprint and inputs)
    out/rows/clean-<fingerprint[:12]>/               the clean row (the RR denominator)
    out/tables/<name>/table.md  table.json  heatmap.png   one folder per model (``--name``, default the
                                                      checkpoint's file stem and hash): models share the rows
    out/table.md  table.json  heatmap.png  suite.json  the latest run's (rewritten at its end)

**Resumable, per row.** Each row is built in a staging folder and published whole when its evaluation is done
(:func:`sensorfuse.utils.atomic.atomic_dir`): an interrupted suite keeps every finished row, and the next run
with the same checkpoint / corruption / severity / seed / data finds it by its fingerprint (a SHA-256 of those
inputs, :func:`fingerprint`, in the folder name) and reuses it if the same code scored it (the provenance digest
of the package, recorded in ``row.json``; ``--allow-code-change`` reuses it anyway, for changes known not to
alter scores). A row of another checkpoint, seed or data has another folder and is never mixed in (old rows stay
until the folder is deleted); a row of other code is evaluated again and replaces it. The baseline's rows live
in the same ``rows/`` folder under its own fingerprints, so a model evaluated once serves as the baseline of
another run for free. The tables are rewritten from the rows at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sensorfuse.corrupt.catalog import Corruption, parse_severities, select
from sensorfuse.corrupt.report import CLEAN, Score, format_table, heatmap, levels_for, summary
from sensorfuse.engine.distributed import DistInfo, all_gather_objects
from sensorfuse.engine.evaluate import Evaluator, load_model, scenario_sample_config, used_modalities
from sensorfuse.engine.robustness import Scenario, corruption_scenario
from sensorfuse.errors import ConfigError
from sensorfuse.utils.atomic import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

#: what a suite folder holds; anything else there means ``--out`` points at the wrong folder
SUITE_OUTPUTS = frozenset({"rows", "tables", "table.md", "table.json", "heatmap.png", "suite.json"})
NAME = re.compile(r"^[A-Za-z0-9._+-]{1,80}$")
ROW_FILE = "row.json"


@dataclass(frozen=True)
class Row:
    """One row of the suite: a corruption at a severity, or the clean row (``("clean", 0)``)."""

    corruption: str
    severity: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.corruption, self.severity)

    @property
    def stem(self) -> str:
        return "clean" if self.key == CLEAN else f"{self.corruption}-s{self.severity}"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the checkpoint's identity, wherever it lies)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_digest() -> str:
    """SHA-256 over the sha256 of every package file that trains or scores a model (as provenance records)."""
    from sensorfuse.engine.provenance import source_digest

    return hashlib.sha256(json.dumps(source_digest(), sort_keys=True).encode()).hexdigest()


def fingerprint(model_sha: str, row: Row, seed: int, data: dict[str, Any]) -> str:
    """The identity of a row: checkpoint bytes, corruption, severity, seed and data (its folder name; the code
    that scored it is checked separately, :func:`finished`)."""
    body = {"model": model_sha, "row": list(row.key), "seed": seed, "data": data}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def row_dir(out: Path, row: Row, fp: str) -> Path:
    return out / "rows" / f"{row.stem}-{fp[:12]}"


def finished(
    out: Path, row: Row, fp: str, code: str, allow_code_change: bool = False
) -> dict[str, Any] | None:
    """The record of a published row with this fingerprint scored by this ``code`` (any code with
    ``allow_code_change``), or None (the row is evaluated again and replaces it)."""
    path = row_dir(out, row, fp) / ROW_FILE
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("fingerprint") != fp:
        return None
    if rec.get("code_sha256") != code and not allow_code_change:
        log.info("%s: scored by other code; evaluating it again", path.parent.name)
        return None
    return rec


def check_suite_output(out: Path) -> None:
    """``out`` is a new folder or an earlier suite's (rows are added, tables replaced).

    Raises:
        ConfigError: ``out`` is a file or holds files that are not part of a corruption suite.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder for the corruption suite")
    if out.is_dir():
        others = sorted(
            p.name for p in out.iterdir() if p.name not in SUITE_OUTPUTS and not p.name.startswith(".")
        )
        if others:
            raise ConfigError(
                f"--out {out}: holds files that are not part of a corruption suite ({', '.join(others[:5])}); "
                "choose an empty or new folder, or an earlier suite's"
            )


@dataclass
class Model:
    """One model of the suite (the evaluated one or the baseline) and the identity of its rows."""

    label: str
    checkpoint: Path
    ev: Evaluator
    sha: str

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self.ev.model.sensors)


def applicable(c: Corruption, sensors: Sequence[str]) -> bool:
    """Whether ``c`` changes a sensor the model reads (otherwise the row is the clean one)."""
    return any(m in sensors for m in c.modalities)


def _scenario(row: Row, corruptions: dict[str, Corruption], sensors: tuple[str, ...], seed: int) -> Scenario:
    if row.key == CLEAN:
        return Scenario("clean", sensors)
    return corruption_scenario(corruptions[row.corruption], row.severity, sensors, seed)


def evaluate_rows(
    m: Model,
    nusc: Any,
    split: str,
    rows: Sequence[Row],
    corruptions: dict[str, Corruption],
    out: Path,
    seed: int,
    data: dict[str, Any],
    code: str,
    allow_code_change: bool = False,
) -> dict[tuple[str, int], Score]:
    """Evaluate (or reuse) every row for one model; returns the scores on rank 0 (empty elsewhere).

    Collective under torchrun: every rank takes part in every row's prediction. Rank 0 decides which rows are
    finished (and tells the others), evaluates and publishes each new row.
    """
    from tqdm import tqdm

    ev, info = m.ev, m.ev.info
    tokens = ev.index.split_tokens(split)
    fps = {r.key: fingerprint(m.sha, r, seed, data) for r in rows}
    done = (
        {r.key: finished(out, r, fps[r.key], code, allow_code_change) for r in rows} if info.is_main else {}
    )
    done = all_gather_objects(done, info)[0]
    scores: dict[tuple[str, int], Score] = {}
    bar = tqdm(rows, desc=f"corruption suite ({m.label})", disable=not info.is_main, unit="row")
    for i, row in enumerate(bar):
        if row.key != CLEAN and not applicable(corruptions[row.corruption], m.sensors):
            continue  # filled from the clean row below: the model's inputs are the clean ones
        rec = done.get(row.key)
        if rec is None:
            rec = _evaluate_row(m, nusc, split, tokens, row, corruptions, out, seed, fps[row.key], data, code)
        if info.is_main and rec is not None:
            scores[row.key] = Score(float(rec["nds"]), float(rec["map"]))
            how = "reused" if row.key in done and done[row.key] is not None else f"{rec['seconds']:.0f} s"
            log.info(
                "[%d/%d] %s %s: NDS %.4f mAP %.4f (%s)",
                i + 1,
                len(rows),
                m.label,
                row.stem,
                rec["nds"],
                rec["map"],
                how,
            )
    if info.is_main:
        clean = scores[CLEAN]
        for row in rows:
            if row.key not in scores:
                scores[row.key] = Score(clean.nds, clean.map, applicable=False)
    return scores


def _evaluate_row(
    m: Model,
    nusc: Any,
    split: str,
    tokens: Sequence[str],
    row: Row,
    corruptions: dict[str, Corruption],
    out: Path,
    seed: int,
    fp: str,
    data: dict[str, Any],
    code: str,
) -> dict[str, Any] | None:
    """Predict one row on every rank; rank 0 evaluates it in a staging folder and publishes it whole."""
    from sensorfuse.engine.metrics import SplitTruth, score_predictions

    t0 = time.perf_counter()
    sc = _scenario(row, corruptions, m.sensors, seed)
    results, dropped = m.ev.predict(tokens, sc)
    if not m.ev.info.is_main:
        return None
    cfg = scenario_sample_config(m.ev.cfg.data.sample, sc)
    used = used_modalities(dropped, sc.sensors, cfg)
    with atomic_dir(row_dir(out, row, fp), overwrite=True) as stage:
        s = score_predictions(
            SplitTruth(nusc, split), results, stage, used, False, f"{m.label}: {sc.name}", accounting=dropped
        )
        rec = {
            "fingerprint": fp,
            "model": str(m.checkpoint),
            "model_sha256": m.sha,
            "corruption": row.corruption,
            "severity": row.severity,
            "seed": seed,
            "data": data,
            "code_sha256": code,
            "nds": float(s["nd_score"]),
            "map": float(s["mean_ap"]),
            "tp_errors": s["tp_errors"],
            "used": list(used),
            "dropped": dropped.summary_line(),
            "seconds": time.perf_counter() - t0,
        }
        atomic_write_json(
            stage / "data_accounting.json", {"scenario": sc.name, **dropped.to_dict()}, indent=1
        )
        atomic_write_json(stage / ROW_FILE, rec, indent=1)
    return rec


def suite_rows(corruptions: Sequence[Corruption], severities: Sequence[int]) -> list[Row]:
    """The clean row, then every corruption at each of its evaluated severities."""
    return [Row(*CLEAN)] + [Row(c.name, s) for c in corruptions for s in levels_for(c, severities)]


def _baseline(checkpoint: Path, ev: Evaluator, args: argparse.Namespace) -> Model:
    """The baseline model on the same data (dataroot, split) with its own sample settings (image size ...)."""
    model, cfg = load_model(checkpoint, ev.info.device)
    cfg = replace(cfg, data=replace(ev.cfg.data, sample=cfg.data.sample))
    return Model(
        "baseline",
        checkpoint,
        Evaluator(model, cfg, ev.index, ev.info, args.batch_size, args.workers),
        file_sha256(checkpoint),
    )


def run_suite(args: argparse.Namespace, info: DistInfo, model: Any, cfg: Any) -> int:
    """The ``--corruptions`` branch of ``sensorfuse evaluate`` (``cfg.data`` already holds the command's
    dataroot / version / split / max-missing); see the module docstring."""
    from sensorfuse.data import NuScenesIndex
    from sensorfuse.engine.eval_preflight import EvalPlan, check_files, on_rank0
    from sensorfuse.engine.metrics import load_devkit
    from sensorfuse.sources.nuscenes.index import check_split

    corruptions = select(args.corruptions)
    severities = parse_severities(args.severities)
    if args.name is not None and not NAME.match(args.name):
        raise ConfigError(f"--name {args.name!r}: expected 1-80 letters, digits, '.', '_', '+' or '-'")
    data = cfg.data
    out: Path = args.out or Path(args.checkpoint).resolve().parent.parent / "corruptions"
    index = NuScenesIndex(data.dataroot, data.version)
    tokens = check_split(index, data.val_split, evaluation=True)
    on_rank0(info, lambda: check_suite_output(out))
    plan = EvalPlan(
        data.val_split, tuple(model.sensors), out, 1, cfg.model.head.max_detections, data.max_missing_fraction
    )
    check_files(index, tokens, cfg.data.sample, plan, info)
    nusc = on_rank0(info, lambda: load_devkit(data.dataroot, data.version))
    ev = Evaluator(model, cfg, index, info, args.batch_size, args.workers)
    main = Model("model", Path(args.checkpoint), ev, file_sha256(args.checkpoint))
    base = _baseline(Path(args.baseline), ev, args) if args.baseline else None
    rows = suite_rows(corruptions, severities)
    by_name = {c.name: c for c in corruptions}
    ident = {
        "dataroot": str(Path(data.dataroot).resolve()),
        "version": data.version,
        "split": data.val_split,
        "tokens_sha256": hashlib.sha256("\n".join(tokens).encode()).hexdigest(),
    }
    code = code_digest()
    t0 = time.perf_counter()
    keep = bool(getattr(args, "allow_code_change", False))
    scores = evaluate_rows(main, nusc, data.val_split, rows, by_name, out, args.seed, ident, code, keep)
    base_scores = (
        evaluate_rows(base, nusc, data.val_split, rows, by_name, out, args.seed, ident, code, keep)
        if base
        else None
    )
    if not info.is_main:
        return 0
    name = args.name or f"{Path(args.checkpoint).stem}-{main.sha[:8]}"
    s = summary(scores, corruptions, severities, base_scores)
    title = f"Corruption suite: {name}" + (f" (baseline {Path(args.baseline).name})" if base else "")
    meta = {
        "name": name,
        "checkpoint": str(args.checkpoint),
        "checkpoint_sha256": main.sha,
        "baseline": str(args.baseline) if base else None,
        "baseline_sha256": base.sha if base else None,
        "corruptions": [c.name for c in corruptions],
        "severities": list(severities),
        "seed": args.seed,
        "data": ident,
        "code_sha256": code,
        "command": getattr(args, "argv", None),
        "seconds": time.perf_counter() - t0,
        "ranks": info.world_size,
    }
    table = write_report(out, name, s, corruptions, title, meta)
    print(table)
    print(f"table: {out / 'tables' / name / 'table.md'}  heat map: {out / 'tables' / name / 'heatmap.png'}")
    return 0


def write_report(
    out: Path,
    name: str,
    s: dict[str, Any],
    corruptions: Sequence[Corruption],
    title: str,
    meta: dict[str, Any],
) -> str:
    """``table.md``, ``table.json`` and ``heatmap.png`` into ``out/tables/<name>/`` (one folder per model, so
    several models share one row store) and, for the latest run, into ``out/``; returns the Markdown table."""
    table = format_table(s, title, corruptions)
    mine = out / "tables" / name
    png = heatmap(mine / "heatmap.png", s, corruptions, title).read_bytes()
    for where in (mine, out):
        atomic_write_text(where / "table.md", table)
        atomic_write_json(where / "table.json", {**s, "suite": meta}, indent=1)
    atomic_write_bytes(out / "heatmap.png", png)
    atomic_write_json(out / "suite.json", meta, indent=1)
    return table
