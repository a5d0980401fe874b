"""Fixtures of the calib tests: the one-sample real dataroot of tests/data/realworld.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))

from realworld import build_real_world


@pytest.fixture(scope="session")
def real_world_calib(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """``(dataroot, version, sample_token)`` of the real keyframe as a loadable nuScenes dataroot."""
    return build_real_world(realdata, tmp_path_factory.mktemp("realworld_calib") / "w")
