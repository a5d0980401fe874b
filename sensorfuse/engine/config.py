"""The training configuration: frozen dataclasses loaded from YAML with dotted command-line overrides.

A YAML file holds the sections ``data``, ``model``, ``optim`` and ``runtime`` and may name one ``base:``
file (a path relative to itself) whose values it overrides; the base itself may not have a ``base:``.
Overrides are ``section.key=value`` strings (``optim.lr=1e-3 runtime.out_dir=runs/x``), parsed with
``yaml.safe_load`` and checked against the dataclass field types. The resolved config is saved as YAML
next to every run's outputs (:func:`save_config`) and inside every checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sensorfuse.data import SampleConfig
from sensorfuse.data.augment import GlobalAugment
from sensorfuse.errors import ConfigError
from sensorfuse.models import ModelConfig
from sensorfuse.utils.atomic import atomic_write_text
from sensorfuse.utils.dataclass_io import coerce, field_type, from_dict, to_dict
from sensorfuse.utils.yaml_io import read_yaml


def _require(ok: bool, key: str, value: Any, expected: str) -> None:
    """ConfigError naming the dotted ``key``, its ``value`` and what is ``expected`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}={value!r}: expected {expected}")


def _finite(x: float) -> bool:
    return math.isfinite(x)


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how samples are loaded.

    Attributes:
        dataroot: nuScenes-format dataset folder.
        version: table folder name (``v1.0-mini``, ``v1.0-trainval``).
        train_split / val_split: official split names (``mini_train``, ``val``) or keys of ``splits.json``.
        sample: how one sample is loaded (sweeps, image size, ...), see :class:`sensorfuse.data.SampleConfig`.
        augment: apply the global rotation/scale/flip augmentation to training samples (all modalities,
            boxes and camera geometry together).
        augmentation: its ranges and probabilities, see :class:`sensorfuse.data.augment.GlobalAugment`.
        max_missing_fraction: the largest share of a sensor's samples that may be lost to data faults
            (missing, empty, truncated, corrupt files, stale or broken chains; with ``sample.on_missing:
            drop_sensor``) before the run fails with :class:`~sensorfuse.errors.DataQualityError`: checked
            on the file scan before the first step, during training (from 20 samples on) and at the end.
            Every drop is counted either way (log, ``log.csv``'s ``dropped``, ``summary.json``); 1.0 never
            fails.
    """

    dataroot: str = "datasets/synth-mini"
    version: str = "v1.0-mini"
    train_split: str = "mini_train"
    val_split: str = "mini_val"
    sample: SampleConfig = field(default_factory=SampleConfig)
    augment: bool = False
    augmentation: GlobalAugment = field(default_factory=GlobalAugment)
    max_missing_fraction: float = 0.05

    def __post_init__(self) -> None:
        f = self.max_missing_fraction
        _require(0.0 <= f <= 1.0, "data.max_missing_fraction", f, "a share in [0, 1] (1.0 = never fail)")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with warm-up then one-cycle/cosine decay (or a constant rate).

    Attributes:
        lr: peak learning rate.
        weight_decay: AdamW decoupled weight decay.
        betas: AdamW betas.
        max_steps: total optimizer steps of the run.
        epochs: if > 0, ``max_steps`` is replaced by ``epochs * steps_per_epoch``.
        grad_clip: max global gradient norm (0 = no clipping).
        schedule: ``onecycle`` (cosine up from lr/div_factor, then cosine down), ``cosine`` (linear warm-up,
            then cosine to lr*min_lr_ratio) or ``constant`` (after the warm-up).
        warmup_steps: warm-up steps for ``cosine``/``constant``; for ``onecycle`` the rising part is
            ``pct_start * max_steps``.
    """

    lr: float = 2e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    max_steps: int = 1000
    epochs: int = 0
    grad_clip: float = 10.0
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_steps: int = 50
    pct_start: float = 0.3
    div_factor: float = 10.0
    min_lr_ratio: float = 1e-3

    def __post_init__(self) -> None:
        _require(_finite(self.lr) and self.lr > 0, "optim.lr", self.lr, "a finite number > 0")
        wd = self.weight_decay
        _require(_finite(wd) and wd >= 0, "optim.weight_decay", wd, "a finite number >= 0")
        for i, b in enumerate(self.betas):
            _require(0.0 <= b < 1.0, f"optim.betas[{i}]", b, "a number in [0, 1)")
        _require(self.epochs >= 0, "optim.epochs", self.epochs, "an integer >= 0 (0 = use max_steps)")
        _require(self.max_steps >= 1 or self.epochs > 0, "optim.max_steps", self.max_steps, "an integer >= 1")
        clip = self.grad_clip
        _require(
            _finite(clip) and clip >= 0, "optim.grad_clip", clip, "a finite number >= 0 (0 = no clipping)"
        )
        _require(self.warmup_steps >= 0, "optim.warmup_steps", self.warmup_steps, "an integer >= 0")
        _require(0.0 <= self.pct_start <= 1.0, "optim.pct_start", self.pct_start, "a share in [0, 1]")
        div = self.div_factor
        _require(
            _finite(div) and div >= 1, "optim.div_factor", div, "a finite number >= 1 (start lr = lr / div)"
        )
        lo = self.min_lr_ratio
        _require(0.0 <= lo <= 1.0, "optim.min_lr_ratio", lo, "a share of lr in [0, 1]")


@dataclass(frozen=True)
class RuntimeConfig:
    """How and where the run executes.

    Attributes:
        seed: base seed (rank r uses seed + r for its model-side randomness).
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision on CUDA (ignored on the CPU).
        workers: DataLoader worker processes.
        batch_size: samples per process per step.
        log_every / ckpt_every: steps between log rows / checkpoints (the last step always checkpoints).
        keep_checkpoints: how many ``step_*.pt`` files to keep besides ``last.pt``.
        out_dir: run folder (config.yaml, log.csv, checkpoints/).
        progress: show a tqdm progress bar.
    """

    seed: int = 0
    device: str = "auto"
    amp: bool = True
    workers: int = 0
    batch_size: int = 2
    log_every: int = 10
    ckpt_every: int = 100
    keep_checkpoints: int = 2
    out_dir: str = "runs/train"
    progress: bool = True

    def __post_init__(self) -> None:
        _require(self.workers >= 0, "runtime.workers", self.workers, "an integer >= 0 (0 = load in-process)")
        _require(self.batch_size >= 1, "runtime.batch_size", self.batch_size, "an integer >= 1")
        _require(self.log_every >= 1, "runtime.log_every", self.log_every, "an integer >= 1 (steps)")
        _require(self.ckpt_every >= 1, "runtime.ckpt_every", self.ckpt_every, "an integer >= 1 (steps)")
        keep = self.keep_checkpoints
        _require(keep >= 0, "runtime.keep_checkpoints", keep, "an integer >= 0 (step_*.pt files kept)")
        _require(bool(self.out_dir.strip()), "runtime.out_dir", self.out_dir, "a folder path")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, everything else in ``over`` replaces ``base``."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _include(value: Any, folder: Path, where: str) -> Any:
    """``{"include": "model_small.yaml", ...}`` → that file's mapping merged with the other keys."""
    if isinstance(value, dict) and "include" in value:
        rest = {k: v for k, v in value.items() if k != "include"}
        inc = _read_yaml(folder / str(value["include"]))
        if set(inc) == {"model"} and isinstance(inc["model"], dict):  # a model YAML with a top-level key
            inc = inc["model"]
        return merge(inc, rest)
    return value


def load_raw(path: str | Path) -> dict[str, Any]:
    """The YAML at ``path`` merged over its ``base:`` (one level) with section ``include:`` files resolved."""
    path = Path(path)
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is not None:
        base_path = path.parent / str(base)
        base_data = _read_yaml(base_path)
        if "base" in base_data:
            raise ConfigError(f"{base_path}: a base config may not itself have a 'base:' (one level only)")
        base_data = {k: _include(v, base_path.parent, str(base_path)) for k, v in base_data.items()}
        data = {k: _include(v, path.parent, str(path)) for k, v in data.items()}
        return merge(base_data, data)
    return {k: _include(v, path.parent, str(path)) for k, v in data.items()}


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings to the raw mapping, type-checked against :class:`TrainConfig`."""
    out = dict(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=1e-3")
        key, text = item.split("=", 1)
        key = key.strip()
        tp = field_type(TrainConfig, key)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key}: cannot parse {text!r}: {e}") from e
        value = to_dict(coerce(value, tp, key))  # type check now, with the key in the message
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            child = node.get(p)
            node[p] = dict(child) if isinstance(child, dict) else {}
            node = node[p]
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a :class:`TrainConfig` from YAML (or the defaults when ``path`` is None) plus overrides."""
    raw = load_raw(path) if path is not None else {}
    raw = apply_overrides(raw, list(overrides))
    return from_dict(TrainConfig, raw, where=str(path) if path is not None else "config")


def config_to_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically); :func:`load_config` reads it back unchanged."""
    atomic_write_text(path, config_to_yaml(cfg))


def config_from_dict(data: dict[str, Any], where: str = "checkpoint config") -> TrainConfig:
    return from_dict(TrainConfig, data, where)


#: Settings that may change when a run resumes (``train --resume``): how and where it executes, where it
#: reads the data, how long it runs (the schedule follows the new length from the resumed step on) and the
#: fault policy. Every other setting is fixed by the checkpoint — the model (``model.*``), the optimizer and
#: schedule (``optim.*``), ``runtime.batch_size`` and ``runtime.seed`` (the data order), the split and what
#: a sample holds (``data.sample.*``, augmentation) — and :func:`resume_changes` refuses a difference.
RESUME_MAY_CHANGE = (
    "runtime.device",
    "runtime.amp",
    "runtime.workers",
    "runtime.log_every",
    "runtime.ckpt_every",
    "runtime.keep_checkpoints",
    "runtime.out_dir",
    "runtime.progress",
    "data.dataroot",
    "data.val_split",
    "data.max_missing_fraction",
    "data.sample.on_missing",
    "optim.max_steps",
    "optim.epochs",
)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}`` (lists are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out |= flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def _may_change(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in RESUME_MAY_CHANGE)


def resume_changes(saved: dict[str, Any], cfg: TrainConfig, where: str) -> dict[str, tuple[Any, Any]]:
    """The settings in which ``cfg`` differs from ``saved``, the config stored in the checkpoint ``where``.

    Returns:
        dotted key → (checkpoint's value, new value), all of them keys of :data:`RESUME_MAY_CHANGE`.

    Raises:
        ConfigError: a setting the checkpoint fixes differs; lists each such key with old → new and says how
            to go on. (The checkpoint's config is read with today's defaults for keys it predates.)
    """
    old = flatten(to_dict(config_from_dict(saved, where=f"{where} [config]")))
    new = flatten(to_dict(cfg))
    changed = {
        k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)
    }
    fixed = [k for k in changed if not _may_change(k)]
    if fixed:
        lines = "\n".join(f"  {k}: {changed[k][0]!r} → {changed[k][1]!r}" for k in fixed)
        raise ConfigError(
            f"--resume from {where}: the checkpoint was trained with other settings, and its weights, "
            f"optimizer and schedule depend on them:\n{lines}\n"
            "To continue this run, resume with its own settings (the run's config.yaml; only "
            f"{', '.join(RESUME_MAY_CHANGE)} may change). To train with the new settings, start a new run "
            "in another runtime.out_dir (without --resume)."
        )
    return changed
