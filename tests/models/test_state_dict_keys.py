"""Checkpoint compatibility: the parameter names and shapes of a built detector do not change.

class: checkpoint incompatibility (a refactor renames a module attribute, so users' ``last.pt`` no longer loads).

The fingerprints are the sha256 of the sorted ``key:shape`` lines of the tiny config's ``state_dict`` per fuser,
recorded from the code before the part interfaces (issue 26). If a change here is intended, existing
checkpoints need a key migration in ``sensorfuse.engine.checkpoint``; print ``_lines(...)`` to see the keys.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
from tiny import tiny_config

from sensorfuse.models import build_detector

FINGERPRINTS = {
    "transformer": (239, "b07c30475f86687a"),
    "concat": (207, "5b427fd455615085"),
    "gated": (221, "0f8a6de02c2bd9a8"),
    "late": (300, "b976a740261b7019"),
}


def _lines(state: dict[str, torch.Tensor]) -> str:
    return "\n".join(sorted(f"{k}:{tuple(v.shape)}" for k, v in state.items()))


@pytest.mark.parametrize("fuser", sorted(FINGERPRINTS))
def test_state_dict_keys_and_shapes_are_unchanged(fuser: str) -> None:
    state = build_detector(tiny_config(fuser)).state_dict()
    digest = hashlib.sha256(_lines(state).encode()).hexdigest()[:16]
    assert (len(state), digest) == FINGERPRINTS[fuser]
