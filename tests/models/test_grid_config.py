from __future__ import annotations

import dataclasses

import pytest
import torch

from sensorfuse.errors import ConfigError
from sensorfuse.models import BEVGridSpec, bevfusion_config, model_config_from_dict, small_config
from sensorfuse.models.config import load_model_config
from sensorfuse.utils.dataclass_io import to_dict


def test_grid_shape_and_cells() -> None:
    g = BEVGridSpec((-51.2, 51.2), (-51.2, 51.2), (-5, 3), 0.8)
    assert g.shape == (128, 128)
    ix, iy, inside = g.cell_of(torch.tensor([[-51.2, -51.2], [0.0, 0.8], [51.2, 0.0], [-0.01, 51.19]]))
    assert ix.tolist()[:2] == [0, 64] and iy.tolist()[:2] == [0, 65]
    assert inside.tolist() == [True, True, False, True]  # max edge excluded, like voxelize
    idx = g.flat_index(torch.tensor([[0.1, 0.1, 0.0], [0.1, 0.1, 3.0], [0.1, 0.1, float("nan")]]))
    assert idx.tolist() == [64 * 128 + 64, -1, -1]
    c = g.centers()
    assert c.shape == (128, 128, 2)
    assert torch.allclose(c[0, 0], torch.tensor([-50.8, -50.8]))
    assert g.finer(2).shape == (256, 256)


@pytest.mark.parametrize("kw", [{"cell": 0.7}, {"cell": 0.0}, {"x_range": (1.0, -1.0)}])
def test_grid_rejects_bad_spec(kw: dict) -> None:
    with pytest.raises(ConfigError):
        BEVGridSpec(**{"x_range": (-51.2, 51.2), "y_range": (-51.2, 51.2), "cell": 0.8, **kw})


def test_presets_load_with_declared_sizes() -> None:
    s, b = small_config(), bevfusion_config()
    assert s.grid.shape == (64, 64) and b.grid.shape == (180, 180)
    assert round((s.camera.depth_max - s.camera.depth_min) / s.camera.depth_step) == 24
    assert b.lidar.pillar_size == 0.075 and b.grid.stride_for(b.lidar.pillar_size, "x") == 8


def test_config_round_trip_and_errors(tmp_path) -> None:
    cfg = small_config()
    again = model_config_from_dict(to_dict(cfg))
    assert again == cfg
    with pytest.raises(ConfigError, match=r"model config\.lidar: unknown key\(s\) \['pillar_sise'\]"):
        model_config_from_dict({"lidar": {"pillar_sise": 0.2}})
    with pytest.raises(ConfigError, match=r"head\.top_k: expected int"):
        model_config_from_dict({"head": {"top_k": "many"}})
    with pytest.raises(ConfigError, match="sensors"):
        model_config_from_dict({"sensors": ["sonar"]})
    p = tmp_path / "m.yaml"
    p.write_text("model:\n  fuser: {kind: gated}\n")
    assert load_model_config(p).fuser.kind == "gated"
    assert dataclasses.is_dataclass(load_model_config(p).grid)
