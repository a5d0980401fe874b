"""The training loop, independent of the detector: any ``nn.Module`` whose ``forward(batch)`` returns a
dict of scalar losses with a ``"loss"`` total.

Determinism: the data order of epoch ``e`` is a permutation seeded by ``seed + e`` (never the global RNG),
and the model's own randomness (e.g. missing-sensor dropout) draws from the torch RNG, whose state is saved.
So a run resumed from the checkpoint of step ``k`` takes exactly the steps ``k+1, ...`` the uninterrupted run took (model RNG, optimizer,
schedule and AMP scaler states are restored from the checkpoint).

Resuming: the settings the checkpoint fixes must be the same (:func:`sensorfuse.engine.config.resume_changes`
refuses a change, naming each key old → new); the others are applied and recorded (``config.yaml`` holds the
settings really used, ``summary.json``'s ``starts`` what changed at each start). A longer ``optim.max_steps``
extends the run: the schedule from the resumed step on is the new length's.

Dropped sensors: every batch's ``meta[i].missing`` (``FusionBatch``) is counted per channel and reason in a
:class:`~sensorfuse.data.accounting.MissingTally` (:class:`~sensorfuse.engine.drops.DropCount`), merged
across ranks at log and checkpoint steps, stored in the checkpoint (so it spans resumes), logged as a warning
when it grows, written to ``log.csv`` (``dropped``: drops by data faults so far) and ``summary.json``, and
checked against ``data.max_missing_fraction`` for the model's sensors (from
:data:`~sensorfuse.engine.drops.MIN_CHECK_SAMPLES` samples on, and at the end).
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

from sensorfuse.data.accounting import MissingTally
from sensorfuse.engine import provenance
from sensorfuse.engine.checkpoint import (
    LAST,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
    step_path,
)
from sensorfuse.engine.config import TrainConfig, resume_changes, save_config
from sensorfuse.engine.distributed import DistInfo, seed_everything
from sensorfuse.engine.drops import DropCount
from sensorfuse.engine.optim import build_optimizer, lr_factor
from sensorfuse.errors import ConfigError, SensorfuseError
from sensorfuse.utils.atomic import atomic_write_json
from sensorfuse.utils.dataclass_io import to_dict

log = logging.getLogger(__name__)

#: the run summary in the run folder (status, step, losses, dropped sensors, starts)
SUMMARY = "summary.json"


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
    dropped: MissingTally | None = None


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
        self.losses: dict[str, float] = {}  # of the last step
        self.drops = DropCount(info)
        # the model's sensor channels: only their drops can fail the run (others are counted, not checked)
        self.channels = cfg.data.sample.channels_for(cfg.model.sensors)
        # one entry per start of the run: {"from_step": int, "changed": {key: [old, new]}}
        self.starts: list[dict[str, Any]] = []
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
            "dropped": self.drops.total.to_dict(),
            "starts": self.starts,
        }

    def load_state(self, ckpt: dict[str, Any], where: str | Path = "checkpoint") -> None:
        """Restore a checkpoint's state (its config already checked by :func:`resume_changes`).

        Raises:
            DataError: the weights do not fit the model or are not finite.
            ConfigError: the run would end before the checkpoint's step.
        """
        load_weights(_unwrap(self.model), ckpt["model"], where)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        if self.step > self.max_steps:
            key = "optim.epochs" if self.cfg.optim.epochs > 0 else "optim.max_steps"
            raise ConfigError(
                f"{key}: the run would end at step {self.max_steps} but {where} is at step {self.step}; "
                f"a resumed run may be extended, not shortened (expected >= {self.step} steps)"
            )
        # the schedule of this run's length (an extended run's differs from the checkpoint's from here on)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * lr_factor(self.scheduler.last_epoch, self.cfg.optim, self.max_steps)
        self.drops.restore(ckpt.get("dropped"))
        self.starts = list(ckpt.get("starts") or [])
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
        self.losses = {k: float(v.detach()) for k, v in losses.items()}
        return self.losses, norm


def fit(
    model: nn.Module,
    dataset: DatasetLike,
    collate_fn: Callable[[list[Any]], Any],
    cfg: TrainConfig,
    info: DistInfo,
    resume: bool = False,
    preflight: MissingTally | None = None,
) -> FitResult:
    """Train ``model`` on ``dataset`` to ``max_steps``; rank 0 writes config.yaml, provenance.json (which
    code ran: :mod:`sensorfuse.engine.provenance`), log.csv, summary.json and checkpoints.

    Args:
        resume: continue from the latest checkpoint in ``<out_dir>/checkpoints`` (see the module docstring
            for what may change).
        preflight: the file scan of the split made before training, recorded in summary.json.

    Raises:
        ConfigError: ``resume`` with a setting the checkpoint fixes changed (each listed old → new), or no
            checkpoint to resume from.
        DataQualityError: a sensor of the model lost more than ``data.max_missing_fraction`` of its samples.
    """
    out = Path(cfg.runtime.out_dir)
    ckpt_dir = out / "checkpoints"
    seed_everything(cfg.runtime.seed + info.rank)
    trainer = Trainer(model, cfg, info, len(dataset))
    changed: dict[str, tuple[Any, Any]] = {}
    found: Path | None = None
    if resume:
        found = latest_checkpoint(ckpt_dir)
        if found is None:
            raise ConfigError(f"--resume: no checkpoint in {ckpt_dir}")
        ckpt = load_checkpoint(found, map_location="cpu")
        changed = resume_changes(ckpt["config"], cfg, str(found))
        trainer.load_state(ckpt, found)
        log.info("resumed from %s at step %d", found, trainer.step)
        for key, (old, new) in changed.items():
            log.info("resumed with %s changed: %r → %r", key, old, new)
    trainer.starts.append({"from_step": trainer.step, "changed": {k: list(v) for k, v in changed.items()}})
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        trainer.provenance = provenance.record(out, trainer.step)
    result = _run_epochs(trainer, dataset, collate_fn, out, preflight)
    if result.checkpoint is None:  # a resumed run with no step left: its checkpoint is unchanged
        result.checkpoint = found
    return result


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


def _write_summary(
    trainer: Trainer, out: Path, status: str, preflight: MissingTally | None, error: str | None = None
) -> None:
    """``<out>/summary.json`` (rank 0, atomically): where the run stands and what it lost to data faults."""
    dropped = trainer.drops.total
    body = {
        "status": status,  # running (written with each checkpoint) / finished / failed
        "step": trainer.step,
        "max_steps": trainer.max_steps,
        "losses": trainer.losses,
        "dropped_line": dropped.summary_line(),
        "dropped": dropped.to_dict(),
        "max_missing_fraction": trainer.cfg.data.max_missing_fraction,
        "preflight": None if preflight is None else preflight.to_dict(),
        "starts": trainer.starts,
        "error": error,
    }
    atomic_write_json(out / SUMMARY, body, indent=1)


def _account(trainer: Trainer, final: bool) -> MissingTally:
    """Merge the ranks' drop counts (a collective) and fail when a model sensor lost too many samples."""
    cfg = trainer.cfg
    where = f"training {cfg.runtime.out_dir} at step {trainer.step} ({cfg.data.train_split} split)"
    return trainer.drops.sync_and_check(trainer.channels, cfg.data.max_missing_fraction, where, final)


def _run_epochs(
    trainer: Trainer,
    dataset: DatasetLike,
    collate_fn: Callable[[list[Any]], Any],
    out: Path,
    preflight: MissingTally | None = None,
) -> FitResult:
    try:
        return _train_to_end(trainer, dataset, collate_fn, out, preflight)
    except (SensorfuseError, FloatingPointError) as e:
        if trainer.info.is_main:
            _write_summary(trainer, out, "failed", preflight, f"{type(e).__name__}: {e}")
        raise


def _train_to_end(
    trainer: Trainer,
    dataset: DatasetLike,
    collate_fn: Callable[[list[Any]], Any],
    out: Path,
    preflight: MissingTally | None,
) -> FitResult:
    from tqdm import tqdm

    rt, info = trainer.cfg.runtime, trainer.info
    csv_log, ckpt_dir = CsvLog(out / "log.csv"), out / "checkpoints"
    warned = trainer.drops.total.total_dropped
    bar = tqdm(
        total=trainer.max_steps,
        initial=trainer.step,
        disable=not (rt.progress and info.is_main),
        desc="train",
    )
    last: Path | None = None
    while trainer.step < trainer.max_steps:
        for batch in _loader(trainer, dataset, collate_fn):
            t0 = time.perf_counter()
            trainer.drops.add(batch)
            losses, norm = trainer.train_step(batch)
            if not math.isfinite(losses["loss"]):
                raise FloatingPointError(f"non-finite loss {losses['loss']} at step {trainer.step}")
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3f}")
            step = trainer.step
            to_log = step % rt.log_every == 0 or step == trainer.max_steps
            to_save = step % rt.ckpt_every == 0 or step == trainer.max_steps
            if to_log or to_save:  # on every rank: a collective
                _account(trainer, final=False)
            dropped = trainer.drops.total
            if info.is_main and to_log:
                if dropped.total_dropped > warned and step < trainer.max_steps:  # (the end always logs)
                    dropped.log(log)
                    warned = dropped.total_dropped
                row: dict[str, float] = {
                    "step": step,
                    "epoch": (step - 1) // trainer.spe,
                    "lr": float(trainer.scheduler.get_last_lr()[0]),
                }
                row |= {"grad_norm": norm, "sec_per_step": time.perf_counter() - t0, **losses}
                row["dropped"] = dropped.total_dropped
                csv_log.write(row)
            if info.is_main and to_save:
                last = trainer.save(ckpt_dir)
                _write_summary(trainer, out, "running", preflight)
            if step >= trainer.max_steps:
                break
    bar.close()
    dropped = _account(trainer, final=True)
    if info.is_main:
        dropped.log(log)
        _write_summary(trainer, out, "finished", preflight)
    return FitResult(step=trainer.step, last_losses=trainer.losses, checkpoint=last, dropped=dropped)
