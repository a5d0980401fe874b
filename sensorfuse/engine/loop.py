"""The training loop, independent of the detector: any ``nn.Module`` whose ``forward(batch)`` returns a
dict of scalar losses with a ``"loss"`` total.

Determinism: the data order of epoch ``e`` is a permutation seeded by ``seed + e`` (never the global RNG),
and the model's own randomness (e.g. missing-sensor dropout) draws from the torch RNG, whose state is saved.
So a run resumed from the checkpoint of step ``k`` takes exactly the steps ``k+1, ...`` the uninterrupted run took (model RNG, optimizer,
schedule and AMP scaler states are restored from the checkpoint).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from sensorfuse.engine import provenance
from sensorfuse.engine.checkpoint import (
    LAST,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
    step_path,
)
from sensorfuse.engine.config import TrainConfig, save_config
from sensorfuse.engine.dataclass_io import to_dict
from sensorfuse.engine.distributed import DistInfo, seed_everything
from sensorfuse.engine.optim import build_optimizer
from sensorfuse.errors import ConfigError

log = logging.getLogger(__name__)


class DatasetLike(Protocol):
    """Anything indexable with a length (a torch map-style Dataset, a list)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Any: ...


class EpochSampler(Sampler[int]):
    """This rank's share of a seeded permutation of ``range(n)``, starting at batch ``start_batch``.

    The permutation is padded (wrapping around) to a multiple of ``world_size`` so every rank gets the same
    number of samples, then rank ``r`` takes every ``world_size``-th index from ``r``.
    """

    def __init__(
        self, n: int, seed: int, epoch: int, rank: int, world_size: int, batch_size: int, start_batch: int = 0
    ):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g).tolist()
        per_rank = math.ceil(n / world_size)
        perm = (perm * (1 + per_rank * world_size // max(1, n)))[: per_rank * world_size]
        self.indices = perm[rank::world_size][start_batch * batch_size :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def steps_per_epoch(n: int, world_size: int, batch_size: int) -> int:
    return max(1, math.ceil(math.ceil(n / world_size) / batch_size))


@dataclass
class FitResult:
    step: int
    last_losses: dict[str, float]
    checkpoint: Path | None


class CsvLog:
    """Append-only CSV of per-step scalars (columns fixed by the first row)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file() and path.stat().st_size > 0:
            with path.open() as f:
                self.columns = next(csv.reader(f), None)

    def write(self, row: dict[str, float]) -> None:
        new = self.columns is None
        if self.columns is None:
            self.columns = list(row)
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _autocast(info: DistInfo, amp: bool) -> Any:
    if amp and info.device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


class Trainer:
    """Owns the model, optimizer, schedule and scaler of one run; :meth:`fit` trains to ``max_steps``."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, info: DistInfo, n_train: int) -> None:
        self.cfg, self.info = cfg, info
        self.spe = steps_per_epoch(n_train, info.world_size, cfg.runtime.batch_size)
        self.max_steps = cfg.optim.epochs * self.spe if cfg.optim.epochs > 0 else cfg.optim.max_steps
        if self.max_steps <= 0:
            raise ConfigError(f"optim.max_steps must be > 0, got {self.max_steps}")
        self.model = model.to(info.device)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, self.max_steps)
        use_scaler = cfg.runtime.amp and info.device.type == "cuda" and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.step = 0
        # this start's provenance entry (set on rank 0 by fit), saved with every checkpoint
        self.provenance: dict[str, Any] | None = None
        self.ddp: nn.Module = self.model
        if info.distributed:
            ids = [info.device.index] if info.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=True
            )

    # -- checkpoints -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.step // self.spe,
            "config": to_dict(self.cfg),
            "model": _unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "provenance": self.provenance,
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        _unwrap(self.model).load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        if self.info.rank == 0:
            set_rng_state(ckpt["rng"])
        else:  # other ranks had their own streams; re-derive them deterministically
            seed_everything(self.cfg.runtime.seed + self.info.rank + 7919 * self.step)

    def save(self, ckpt_dir: Path) -> Path:
        state = self.state()
        path = step_path(ckpt_dir, self.step)
        save_checkpoint(path, state)
        save_checkpoint(ckpt_dir / LAST, state)
        prune_checkpoints(ckpt_dir, self.cfg.runtime.keep_checkpoints)
        return ckpt_dir / LAST

    # -- one step ----------------------------------------------------------------------------------------
    def train_step(self, batch: Any) -> tuple[dict[str, float], float]:
        """Forward, backward, clip, optimizer + schedule step. Returns (losses, grad norm)."""
        cfg, info = self.cfg, self.info
        if hasattr(batch, "to"):
            batch = batch.to(info.device)
        self.ddp.train()
        with _autocast(info, cfg.runtime.amp):
            losses = self.ddp(batch)
        if "loss" not in losses:
            raise ConfigError(f"the model returned losses {sorted(losses)} without a 'loss' total")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip)) if params else 0.0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}, norm


def fit(
    model: nn.Module,
    dataset: DatasetLike,
    collate_fn: Callable[[list[Any]], Any],
    cfg: TrainConfig,
    info: DistInfo,
    resume: bool = False,
) -> FitResult:
    """Train ``model`` on ``dataset`` to ``max_steps``; rank 0 writes config.yaml, provenance.json (which
    code ran: :mod:`sensorfuse.engine.provenance`), log.csv and checkpoints."""
    out = Path(cfg.runtime.out_dir)
    ckpt_dir = out / "checkpoints"
    seed_everything(cfg.runtime.seed + info.rank)
    trainer = Trainer(model, cfg, info, len(dataset))
    if resume:
        found = latest_checkpoint(ckpt_dir)
        if found is None:
            raise ConfigError(f"--resume: no checkpoint in {ckpt_dir}")
        trainer.load_state(load_checkpoint(found, map_location="cpu"))
        log.info("resumed from %s at step %d", found, trainer.step)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        trainer.provenance = provenance.record(out, trainer.step)
    return _run_epochs(trainer, dataset, collate_fn, CsvLog(out / "log.csv"), ckpt_dir)


def _loader(trainer: Trainer, dataset: DatasetLike, collate_fn: Callable[[list[Any]], Any]) -> DataLoader:
    rt, info = trainer.cfg.runtime, trainer.info
    epoch, start = divmod(trainer.step, trainer.spe)
    sampler = EpochSampler(len(dataset), rt.seed, epoch, info.rank, info.world_size, rt.batch_size, start)
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=rt.batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=rt.workers,
        generator=torch.Generator().manual_seed(rt.seed + epoch),  # keeps the global RNG untouched
        persistent_workers=False,
    )


def _run_epochs(
    trainer: Trainer,
    dataset: DatasetLike,
    collate_fn: Callable[[list[Any]], Any],
    csv_log: CsvLog,
    ckpt_dir: Path,
) -> FitResult:
    from tqdm import tqdm

    rt, info = trainer.cfg.runtime, trainer.info
    bar = tqdm(
        total=trainer.max_steps,
        initial=trainer.step,
        disable=not (rt.progress and info.is_main),
        desc="train",
    )
    losses: dict[str, float] = {}
    last: Path | None = None
    while trainer.step < trainer.max_steps:
        for batch in _loader(trainer, dataset, collate_fn):
            t0 = time.perf_counter()
            losses, norm = trainer.train_step(batch)
            if not math.isfinite(losses["loss"]):
                raise FloatingPointError(f"non-finite loss {losses['loss']} at step {trainer.step}")
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3f}")
            step = trainer.step
            if info.is_main and (step % rt.log_every == 0 or step == trainer.max_steps):
                row: dict[str, float] = {
                    "step": step,
                    "epoch": (step - 1) // trainer.spe,
                    "lr": float(trainer.scheduler.get_last_lr()[0]),
                }
                row |= {"grad_norm": norm, "sec_per_step": time.perf_counter() - t0, **losses}
                csv_log.write(row)
            if info.is_main and (step % rt.ckpt_every == 0 or step == trainer.max_steps):
                last = trainer.save(ckpt_dir)
            if step >= trainer.max_steps:
                break
    bar.close()
    return FitResult(step=trainer.step, last_losses=losses, checkpoint=last)
