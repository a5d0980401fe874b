"""Fixtures of the deployment tests: a tiny detector (seconds to export), its checkpoint and its ONNX graphs.

The helpers live in deploy_tiny.py: ``from conftest import ...`` would pick whichever tests/*/conftest.py was
imported first (see tests/models/tiny.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_tiny import tiny_config, tiny_model


@pytest.fixture(scope="package")
def tiny() -> tuple[Any, Any]:
    """(config, model) of the tiny detector, transformer fuser."""
    cfg = tiny_config()
    return cfg, tiny_model(cfg)


@pytest.fixture(scope="package")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny: tuple[Any, Any]) -> Path:
    from sensorfuse.engine.checkpoint import save_checkpoint
    from sensorfuse.utils.dataclass_io import to_dict

    cfg, model = tiny
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, {"step": 0, "epoch": 0, "config": to_dict(cfg), "model": model.state_dict()})
    return path


@pytest.fixture(scope="package")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny: tuple[Any, Any]) -> tuple[Path, dict[str, Any]]:
    """(folder, manifest) of the tiny model's graphs, exported once for the package's tests."""
    from sensorfuse.deploy.export import export_onnx, synthetic_batches

    cfg, model = tiny
    out = tmp_path_factory.mktemp("onnx") / "graphs"
    return out, export_onnx(model, synthetic_batches(cfg.data.sample, 2), out, source="synthetic")
