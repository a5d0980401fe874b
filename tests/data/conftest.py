"""Fixtures of the data tests: a one-sample dataroot rebuilt from the real nuScenes fragments."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from realworld import build_real_world


@pytest.fixture(scope="session")
def real_world(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """``(dataroot, version, sample_token)`` of the real keyframe as a loadable nuScenes dataroot (index cached)."""
    from sensorfuse.data import NuScenesIndex

    root, version, token = build_real_world(realdata, tmp_path_factory.mktemp("realworld") / "w")
    NuScenesIndex(root, version)  # build the JSON cache once; copies of the world reuse it
    return root, version, token
