"""Train a :class:`~sensorfuse.models.FusionDetector` from a :class:`TrainConfig` (one process or torchrun DDP)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sensorfuse.engine.config import TrainConfig
from sensorfuse.engine.distributed import barrier, cleanup_distributed, seed_everything, setup_distributed
from sensorfuse.engine.loop import FitResult, fit

if TYPE_CHECKING:
    from sensorfuse.data import FusionDataset, NuScenesIndex
    from sensorfuse.data.accounting import MissingTally

log = logging.getLogger(__name__)


def preflight(index: NuScenesIndex, dataset: FusionDataset, cfg: TrainConfig) -> MissingTally:
    """Stat every keyframe file of the training split for the model's sensors before the first step.

    Raises:
        DataQualityError: a sensor of the model has more than ``data.max_missing_fraction`` of its files
            missing, empty or truncated (e.g. every LiDAR file deleted), naming the sensor and an example.
    """
    from sensorfuse.data.preflight import scan_files

    tally = scan_files(index, dataset.tokens, cfg.data.sample, cfg.runtime.progress, cfg.model.sensors)
    if tally.total_dropped:
        log.warning("preflight file scan of %s: %s", cfg.data.train_split, tally.summary_line())
    where = f"{cfg.data.dataroot} ({cfg.data.version}, split {cfg.data.train_split}): preflight file scan"
    tally.check(cfg.data.max_missing_fraction, where)
    return tally


def train(cfg: TrainConfig, resume: bool = False) -> FitResult:
    """Build the index, the training split's dataset and the detector from ``cfg``, then :func:`fit`.

    Before the first step the split's files are scanned (:func:`preflight`). Launched by ``torchrun
    --nproc_per_node N`` it trains with DDP (gloo on the CPU, NCCL on CUDA); rank 0 writes
    ``<out_dir>/config.yaml``, ``log.csv``, ``summary.json`` and ``checkpoints/{step_*.pt,last.pt}``.
    """
    from sensorfuse.data import FusionDataset, NuScenesIndex
    from sensorfuse.models import build_detector
    from sensorfuse.structures import collate

    info = setup_distributed(cfg.runtime.device)
    try:
        index = NuScenesIndex(cfg.data.dataroot, cfg.data.version)
        augment = cfg.data.augmentation if cfg.data.augment else None
        dataset = FusionDataset(index, cfg.data.train_split, cfg.data.sample, augment=augment)
        if len(dataset) == 0:
            from sensorfuse.errors import ConfigError

            raise ConfigError(
                f"data.train_split={cfg.data.train_split!r} has no samples in {cfg.data.dataroot}"
            )
        scanned = preflight(index, dataset, cfg)
        # the initial weights follow the config's seed (the same on every rank)
        seed_everything(cfg.runtime.seed)
        model = build_detector(cfg.model)
        log.info(
            "training on %d samples, %d process(es), device %s", len(dataset), info.world_size, info.device
        )
        result = fit(model, dataset, collate, cfg, info, resume=resume, preflight=scanned)
        barrier()
        return result
    finally:
        cleanup_distributed()
