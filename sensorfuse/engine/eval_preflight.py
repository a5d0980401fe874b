"""Checks of ``sensorfuse evaluate`` that run before the first sample.

An evaluation that cannot succeed fails in the first seconds with the reason, not after the whole inference
inside the devkit:

1. the split exists in this version, is one the devkit evaluates on it, and has samples and annotations
   (:func:`sensorfuse.sources.nuscenes.index.check_split`);
2. ``--out`` can be written (its nearest existing folder), has room for the evaluation, and holds nothing but
   an earlier evaluation (the new one replaces it as a whole);
3. every keyframe file of the split's sensors is there (:func:`sensorfuse.data.preflight.scan_files`), within
   the allowed share of drops (``data.max_missing_fraction`` / ``--max-missing``);
4. the devkit loads this version (rank 0, which evaluates).

The weights are checked where the model is loaded (:func:`sensorfuse.engine.evaluate.load_model`: they must
fit the model and be finite). Under torchrun every rank takes part and all ranks fail together.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sensorfuse.data import NuScenesIndex, SampleConfig
from sensorfuse.data.accounting import MissingTally
from sensorfuse.data.preflight import scan_files
from sensorfuse.engine.distributed import DistInfo, all_gather_objects
from sensorfuse.engine.drops import gather_tally
from sensorfuse.errors import ConfigError, DataQualityError, SensorfuseError
from sensorfuse.sources.nuscenes.index import check_split
from sensorfuse.utils.atomic import check_replaceable

T = TypeVar("T")

#: What an evaluation folder holds (``--out``); it is replaced as a whole, so it may hold nothing else.
EVAL_OUTPUTS = frozenset(
    {
        "results_nusc.json",
        "metrics_summary.json",
        "metrics_details.json",
        "plots",
        "report.md",
        "data_accounting.json",
        "robustness",
        "robustness.md",
        "robustness.json",
    }
)

#: Rough upper bounds for the free-space estimate: bytes of one box in ``results_nusc.json``, and of the
#: devkit's ``metrics_details.json`` + plots per scenario.
BOX_BYTES = 400
SCENARIO_BYTES = 8 << 20


@dataclass(frozen=True)
class EvalPlan:
    """What an evaluation will do, for the checks: the split, its sensors and where it writes.

    Attributes:
        split: split name (``--split``).
        sensors: modalities of the main scenario (their files are scanned).
        out: the evaluation folder (``--out``).
        scenarios: scenarios evaluated (1, or the robustness matrix).
        boxes_per_sample: most boxes the model writes per sample (the devkit allows 500).
        max_missing: share of a sensor's samples that may be lost to data faults.
    """

    split: str
    sensors: tuple[str, ...]
    out: Path
    scenarios: int
    boxes_per_sample: int
    max_missing: float


def estimate_output_bytes(n_samples: int, scenarios: int, boxes_per_sample: int) -> int:
    """A generous estimate of an evaluation's size on disk (submission, devkit details and plots)."""
    return scenarios * (n_samples * min(boxes_per_sample, 500) * BOX_BYTES + SCENARIO_BYTES)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_output(out: Path, need_bytes: int) -> None:
    """``out`` can be created or replaced by a new evaluation of about ``need_bytes``.

    Raises:
        ConfigError: ``out`` is a file or holds other files than an evaluation; its nearest existing folder
            is not a folder, cannot be written, or has less free space than ``need_bytes``.
    """
    check_replaceable(out, EVAL_OUTPUTS, "an evaluation")
    parent = _nearest_existing(out.parent)
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: {parent} is not a folder, so the evaluation cannot be written")
    try:
        fd, probe = tempfile.mkstemp(prefix=".sensorfuse-write-test.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write in {parent} ({e.strerror or e})") from e
    free = shutil.disk_usage(parent).free
    if free < need_bytes:
        raise ConfigError(
            f"--out {out}: {free / 1e6:.1f} MB free in {parent}; the evaluation needs about "
            f"{need_bytes / 1e6:.1f} MB"
        )


def check_files(
    index: NuScenesIndex, tokens: Sequence[str], cfg: SampleConfig, plan: EvalPlan, info: DistInfo
) -> MissingTally:
    """Stat the keyframe files of the split's sensors (each rank its share) and check the drops.

    With ``on_missing: raise`` any unusable file would stop the run later, so none is allowed here.

    Raises:
        DataQualityError: a sensor would lose more than ``plan.max_missing`` of its samples, or (with
            ``on_missing: raise``) any file is unusable; on every rank.
    """
    mine = list(tokens)[info.rank :: info.world_size]
    tally = gather_tally(scan_files(index, mine, cfg, progress=info.is_main, modalities=plan.sensors), info)
    where = f"evaluate --split {plan.split}: preflight file scan"
    if cfg.on_missing == "raise" and tally.total_dropped:
        first = min(tally.counts)
        raise DataQualityError(
            f"{where}: {tally.summary_line()}; with data.sample.on_missing=raise the first one would stop "
            f"the run (e.g. {tally.examples[first]})"
        )
    tally.check(plan.max_missing, where)
    return tally


def on_rank0(info: DistInfo, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 (None elsewhere); if it fails, every rank fails (no rank waits forever)."""
    value, error = None, None
    if info.is_main:
        try:
            value = fn()
        except SensorfuseError as e:
            error = e
    message = all_gather_objects(None if error is None else str(error), info)[0]
    if error is not None:
        raise error
    if message is not None:
        raise SensorfuseError(f"rank 0 failed its preflight: {message}")
    return value


def preflight(
    index: NuScenesIndex,
    cfg: SampleConfig,
    plan: EvalPlan,
    info: DistInfo,
    load_devkit: Callable[[], Any],
) -> Any:
    """Run every check before the first sample; returns the devkit ``NuScenes`` on rank 0 (None elsewhere).

    Raises:
        DataError, ConfigError, DataQualityError: the first check that fails, with its reason.
    """
    tokens = check_split(index, plan.split, evaluation=True)
    need = estimate_output_bytes(len(tokens), plan.scenarios, plan.boxes_per_sample)
    on_rank0(info, lambda: check_output(plan.out, need))
    check_files(index, tokens, cfg, plan, info)
    return on_rank0(info, load_devkit)
