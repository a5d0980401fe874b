"""The network stages cut into graphs: running the graphs' torch modules through the stage hook is ``predict``,
bit for bit, for every fuser and sensor subset.

class: runtime composition diverges from predict (the runtimes plug the graphs in through adapters that pack
pillars, fill absent modalities and combine streams; a mistake there would change every runtime's boxes).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from deploy_tiny import tiny_config, tiny_model

from sensorfuse.deploy.graphs import TorchGraphs, dense_pillar_features, graphs, pack_pillars, stage_functions
from sensorfuse.engine.runner import synthetic_sample
from sensorfuse.models.stages import NETWORK_STAGES, Override
from sensorfuse.structures import PointCloud, collate

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("lidar", "camera", "radar"), r)]


def _identical(model: Any, batch: Any, hook: Override, subset: tuple[str, ...]) -> None:
    plain, via = model.extract(batch, subset)[0], model.extract(batch, subset, hook)[0]
    assert plain.keys() == via.keys()
    for k in plain:
        assert torch.equal(plain[k], via[k]), (subset, k)


@pytest.mark.parametrize("fuser", ["transformer", "late", "concat", "gated"])
def test_graph_path_is_bit_identical_to_predict(fuser: str) -> None:
    cfg = tiny_config(f"model.fuser.kind={fuser}")
    model = tiny_model(cfg)
    samples = [synthetic_sample(cfg.data.sample, n_lidar=3000, n_radar=60, seed=i) for i in range(2)]
    batch = collate(samples)
    hook = Override(stage_functions(model, TorchGraphs(graphs(model, deploy=False))))
    assert set(hook.stages) == set(NETWORK_STAGES)
    subsets = SUBSETS if fuser in ("transformer", "late") else [("lidar", "camera", "radar"), ("radar",)]
    for subset in subsets:
        _identical(model, batch, hook, subset)
    boxes = model.predict(batch, stages=hook)
    for a, b in zip(model.predict(batch), boxes, strict=True):
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)


def test_sample_without_lidar_points_or_camera_changes_nothing(tiny: tuple[Any, Any]) -> None:
    """Edge cases of the adapters: a sample with no LiDAR point (the stand-in pillar), cameras missing in one
    sample of a batch (their images never reach the backbone)."""
    cfg, model = tiny
    empty = synthetic_sample(cfg.data.sample, n_lidar=0, n_radar=60)
    full = synthetic_sample(cfg.data.sample, n_lidar=3000, n_radar=60, seed=1)
    assert full.cameras is not None
    some = full.cameras.present.copy()
    some[::2] = False
    part = replace(full, cameras=replace(full.cameras, present=some))
    hook = Override(stage_functions(model, TorchGraphs(graphs(model, deploy=False))))
    for samples in ([empty], [empty, full], [full, part]):
        _identical(model, collate(samples), hook, ("lidar", "camera", "radar"))
    packed = pack_pillars([None], model.encoders["lidar"], torch.device("cpu"))
    assert packed["voxels"].shape[0] == 1 and int(packed["num_points"][0]) == 0


def test_points_outside_the_grid_give_the_stand_in_pillar(tiny: tuple[Any, Any]) -> None:
    cfg, model = tiny
    far = synthetic_sample(cfg.data.sample, n_lidar=500, n_radar=60)
    assert far.lidar is not None
    far = replace(far, lidar=PointCloud(far.lidar.points + np.float32([500, 0, 0, 0, 0])))
    hook = Override(stage_functions(model, TorchGraphs(graphs(model, deploy=False))))
    _identical(model, collate([far]), hook, ("lidar",))


def test_dense_pillar_net_is_the_model_s_net(tiny: tuple[Any, Any]) -> None:
    """The deployment form of the pillar feature net (every slot, masked max) gives the model's features to
    float rounding, on full, partly filled and single-point pillars; and the whole deployed graph path too."""
    cfg, model = tiny
    sample = synthetic_sample(cfg.data.sample, n_lidar=6000, n_radar=80, seed=3)
    assert sample.lidar is not None
    dense_pts = sample.lidar.points[:3000].copy()
    dense_pts[:, :2] = np.random.default_rng(0).uniform(-2, 2, (3000, 2))  # full pillars near the origin
    sample = replace(sample, lidar=PointCloud(np.concatenate([sample.lidar.points, dense_pts])))
    batch = collate([sample, synthetic_sample(cfg.data.sample, n_lidar=200, n_radar=5, seed=4)])
    enc = model.encoders["lidar"]
    vr = model.voxelize(batch, "lidar", batch.present["lidar"].bool())[0]
    assert vr is not None and int(vr.num_points.min()) == 1 and int(vr.num_points.max()) == enc.max_points
    args = (vr.voxels, vr.num_points.long(), vr.coords.long())
    with torch.no_grad():
        dense, sparse = dense_pillar_features(enc.pfn, *args), enc.pfn(*args)
        torch.testing.assert_close(dense, sparse, atol=1e-6, rtol=1e-6)
        hook = Override(stage_functions(model, TorchGraphs(graphs(model))))
        for subset in SUBSETS:
            plain, via = model.extract(batch, subset)[0], model.extract(batch, subset, hook)[0]
            for k in plain:
                torch.testing.assert_close(via[k], plain[k], atol=1e-5, rtol=1e-5)
