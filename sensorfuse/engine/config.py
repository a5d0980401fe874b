"""The training configuration: frozen dataclasses loaded from YAML with dotted command-line overrides.

A YAML file holds the sections ``data``, ``model``, ``optim`` and ``runtime`` and may name one ``base:``
file (a path relative to itself) whose values it overrides; the base itself may not have a ``base:``.
Overrides are ``section.key=value`` strings (``optim.lr=1e-3 runtime.out_dir=runs/x``), parsed with
``yaml.safe_load`` and checked against the dataclass field types. The resolved config is saved as YAML
next to every run's outputs (:func:`save_config`) and inside every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sensorfuse.data import SampleConfig
from sensorfuse.data.augment import GlobalAugment
from sensorfuse.engine.dataclass_io import coerce, field_type, from_dict, to_dict
from sensorfuse.errors import ConfigError
from sensorfuse.models import ModelConfig
from sensorfuse.utils.atomic import atomic_write_text
from sensorfuse.utils.yaml_io import read_yaml


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
    """

    dataroot: str = "datasets/synth-mini"
    version: str = "v1.0-mini"
    train_split: str = "mini_train"
    val_split: str = "mini_val"
    sample: SampleConfig = field(default_factory=SampleConfig)
    augment: bool = False
    augmentation: GlobalAugment = field(default_factory=GlobalAugment)


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
