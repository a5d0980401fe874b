"""Shared fixtures: real nuScenes fragments (../shared/realdata) and markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("SENSORFUSE_REALDATA", REPO.parent / "shared" / "realdata"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="needs an NVIDIA GPU (torch.cuda.is_available() is False)")
    skip_real = pytest.mark.skip(reason=f"real nuScenes fragments not found at {REALDATA}")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
        if "realdata" in item.keywords and not REALDATA.is_dir():
            item.add_marker(skip_real)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Path to ../shared/realdata (tests using it must carry @pytest.mark.realdata)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real nuScenes fragments not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def synth_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A tiny generated world: (dataroot, version); scenes scene-0103, scene-0916 (mini_val), scene-0061."""
    from sensorfuse.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth") / "world"
    cfg = SynthConfig(
        version="v1.0-mini", scenes=3, val_scenes=2, seed=7, scene_seconds=3.0,
        image_width=192, image_height=108, lidar_azimuth_steps=720, progress=False,
    )  # fmt: skip
    generate(root, cfg)
    return root, cfg.version


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny detector (``TINY_OVERRIDES``, 3 LiDAR / 2 radar sweeps), seeded: a checkpoint for
    commands that need one (replay, evaluate on drives)."""
    import torch

    from sensorfuse.bench.latency import TINY_OVERRIDES
    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.engine.config import load_config
    from sensorfuse.models.build import build_detector
    from sensorfuse.utils.dataclass_io import to_dict

    cfg = load_config(None, [*TINY_OVERRIDES, "data.sample.lidar_sweeps=3", "data.sample.radar_sweeps=2"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    state = {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": build_detector(cfg.model).state_dict()}
    save_checkpoint(path, state)
    return path
