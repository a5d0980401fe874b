"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)`` (no pickle of code).

A checkpoint is a dict of tensors and plain Python data::

    {"format": 1, "step": int, "epoch": int, "config": dict (resolved TrainConfig),
     "model": state_dict, "optimizer": state_dict | None, "scheduler": state_dict | None,
     "scaler": state_dict | None, "rng": {"torch": ByteTensor, "cuda": [ByteTensor] , "numpy": {...},
     "python": [...]}, "provenance": dict | None (the code that trained it: sensorfuse.engine.provenance),
     "dropped": dict (MissingTally.to_dict(): sensors dropped so far, all ranks; absent in older files),
     "starts": [{"from_step": int, "changed": {key: [old, new]}}, ...] (one per start; absent in older files)}

Weights are loaded with :func:`load_weights`, which checks names, shapes and finiteness first.

RNG states are stored as tensors and lists so that ``weights_only`` loading accepts them.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_bytes

FORMAT = 1
LAST = "last.pt"
_STEP_RE = re.compile(r"^step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """The torch / CUDA / numpy / Python RNG states as weights_only-loadable data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": [int(py_version), [int(v) for v in py_state], py_gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` (see the module docstring) to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``).

    Raises:
        DataError: the file is missing, truncated or not a sensorfuse checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise DataError(path, f"cannot read checkpoint: {type(e).__name__}: {e}") from e
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise DataError(path, "not a sensorfuse checkpoint (expected keys 'model' and 'config')")
    if state.get("format") != FORMAT:
        raise DataError(path, f"checkpoint format {state.get('format')!r}, expected {FORMAT}", "format")
    return dict(state)


def _examples(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (" ..." if len(names) > n else "")


def _shape(v: Any) -> tuple[int, ...] | str:
    return tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__


def load_weights(model: nn.Module, state: Any, where: str | Path) -> None:
    """Load a checkpoint's ``state`` (a state_dict) into ``model`` after checking that it fits and is sane.

    Checked before anything is copied, so that a wrong checkpoint fails in the first second with a sentence
    instead of torch's long ``RuntimeError`` (or NaN detections after a whole evaluation): the names and
    shapes of the tensors must be the model's, and every floating-point tensor must be finite.

    Raises:
        DataError: ``where`` (the checkpoint), field ``model``: the missing / unexpected keys and shape
            mismatches with examples (reason ``bad data``: trained with another model config), or the first
            tensor holding NaN or inf (reason ``corrupt``).
    """
    if not isinstance(state, Mapping):
        raise DataError(where, f"the model weights are a {type(state).__name__}, not a state_dict", "model")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [  # (a module's extra state, e.g. a dict, is no tensor: only its key is compared)
        f"{k} ({_shape(state[k])} in the checkpoint vs {_shape(v)} in the model)"
        for k, v in own.items()
        if k in state and _shape(state[k]) != _shape(v)
    ]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing keys" + (f" e.g. {_examples(missing)}" if missing else "")]
        parts.append(
            f"{len(unexpected)} unexpected" + (f" e.g. {_examples(unexpected)}" if unexpected else "")
        )
        parts.append(f"{len(shapes)} shape mismatches" + (f" e.g. {_examples(shapes, 2)}" if shapes else ""))
        raise DataError(
            where,
            "the weights do not fit the model: "
            + ", ".join(parts)
            + " — the checkpoint was trained with another model config",
            "model",
        )
    for k, v in state.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise DataError(
                where,
                f"weight tensor {k} holds {bad} NaN/inf value(s) of {v.numel()}",
                "model",
                reason="corrupt",
            )
    model.load_state_dict(state)


def step_path(ckpt_dir: str | Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:07d}.pt"


def latest_checkpoint(ckpt_dir: str | Path) -> Path | None:
    """``last.pt`` if present, else the ``step_*.pt`` with the highest step, else None."""
    ckpt_dir = Path(ckpt_dir)
    if (ckpt_dir / LAST).is_file():
        return ckpt_dir / LAST
    steps = sorted((int(m.group(1)), p) for p in ckpt_dir.glob("step_*.pt") if (m := _STEP_RE.match(p.name)))
    return steps[-1][1] if steps else None


def prune_checkpoints(ckpt_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``step_*.pt`` files (``last.pt`` is never deleted)."""
    steps = sorted(
        (int(m.group(1)), p) for p in Path(ckpt_dir).glob("step_*.pt") if (m := _STEP_RE.match(p.name))
    )
    for _, p in steps[: max(0, len(steps) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
