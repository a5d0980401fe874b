"""Fixtures for the model tests; the helpers behind them live in tiny.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tiny import make_sample

from sensorfuse.structures import FusionBatch, collate


@pytest.fixture
def make_batch() -> Callable[..., FusionBatch]:
    """``make_batch(b=2, seed=0, **make_sample kwargs)`` → a collated FusionBatch."""

    def make(b: int = 2, seed: int = 0, **kw: object) -> FusionBatch:
        rng = np.random.default_rng(seed)
        return collate([make_sample(rng, f"sample{i}", **kw) for i in range(b)])  # type: ignore[arg-type]

    return make
