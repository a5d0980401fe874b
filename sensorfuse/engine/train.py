"""Train a :class:`~sensorfuse.models.FusionDetector` from a :class:`TrainConfig` (one process or torchrun DDP)."""

from __future__ import annotations

import logging

from sensorfuse.engine.config import TrainConfig
from sensorfuse.engine.distributed import barrier, cleanup_distributed, seed_everything, setup_distributed
from sensorfuse.engine.loop import FitResult, fit

log = logging.getLogger(__name__)


def train(cfg: TrainConfig, resume: bool = False) -> FitResult:
    """Build the index, the training split's dataset and the detector from ``cfg``, then :func:`fit`.

    Launched by ``torchrun --nproc_per_node N`` it trains with DDP (gloo on the CPU, NCCL on CUDA);
    rank 0 writes ``<out_dir>/config.yaml``, ``log.csv`` and ``checkpoints/{step_*.pt,last.pt}``.
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
        # the initial weights follow the config's seed (the same on every rank)
        seed_everything(cfg.runtime.seed)
        model = build_detector(cfg.model)
        log.info(
            "training on %d samples, %d process(es), device %s", len(dataset), info.world_size, info.device
        )
        result = fit(model, dataset, collate, cfg, info, resume=resume)
        barrier()
        return result
    finally:
        cleanup_distributed()
