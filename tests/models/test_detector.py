from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny import tiny_config

from sensorfuse.errors import DataError
from sensorfuse.models import build_detector
from sensorfuse.models.build import FUSERS
from sensorfuse.models.detector import FusionDetector
from sensorfuse.structures import Boxes3D

SUBSETS = [set(s) for r in (1, 2, 3) for s in itertools.combinations(("lidar", "camera", "radar"), r)]


def _model(fuser: str = "transformer", **kw: object) -> FusionDetector:
    torch.manual_seed(0)
    return build_detector(tiny_config(fuser), **kw).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize("fuser", sorted(FUSERS))
def test_losses_and_predictions_every_subset(fuser: str, make_batch) -> None:
    model = _model(fuser)
    batch = make_batch(b=2)
    losses = model.train()(batch)
    assert {"loss", "loss_heatmap", "loss_regression", "loss_attribute", "loss_depth"} <= set(losses)
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    model.eval()
    for sensors in SUBSETS:
        out = model.predict(batch, sensors=sensors)
        assert len(out) == 2 and all(isinstance(b, Boxes3D) for b in out)
        assert all(b.boxes.shape[1] == 9 and np.isfinite(b.boxes).all() and len(b) <= 300 for b in out)


def test_output_shapes(make_batch) -> None:
    model = _model()
    outputs, present, depth = model.extract(make_batch(b=2, n_cam=3))
    ny, nx = model.grid.shape
    assert outputs["heatmap"].shape == (2, 10, ny, nx)
    assert outputs["regression"].shape == (2, 10, ny, nx) and outputs["attribute"].shape == (2, 8, ny, nx)
    assert depth is not None and depth.shape == (2, 3, 8, 4, 11)  # 32 x 88 images, stride 8, 8 bins
    assert set(present) == {"lidar", "camera", "radar"}


def test_camera_only_model_built_from_sensors_arg(make_batch) -> None:
    model = _model(sensors=("camera",))
    assert model.sensors == ("camera",)
    batch = make_batch(b=1, lidar=False, radar=False)
    assert batch.lidar is None and batch.radar is None
    assert len(model.predict(batch)) == 1
    with pytest.raises(ValueError, match="no usable sensor"):
        model.predict(batch, sensors={"lidar"})
    # every sample lost its cameras (a corruption, a dropped sensor): no boxes, not an error
    blind = make_batch(b=2, lidar=True, radar=False)
    blind.camera = None
    assert [len(b) for b in model.predict(blind)] == [0, 0]


def test_empty_point_cloud_and_zero_radar_returns(make_batch) -> None:
    model = _model()
    batch = make_batch(b=2)
    batch.lidar[0] = batch.lidar[0][:0]
    batch.radar[1] = batch.radar[1][:0]
    losses = model.train()(batch)
    assert torch.isfinite(losses["loss"])
    model.eval()
    assert len(model.predict(batch)) == 2
    assert len(model.predict(batch, sensors={"radar"})) == 2


def test_missing_camera_is_ignored(make_batch) -> None:
    """A camera marked absent contributes nothing: changing its image changes no output."""
    model = _model()
    batch = make_batch(b=1, n_cam=4)
    batch.camera.present[0, 2] = False
    a = model.extract(batch, {"camera"})[0]["heatmap"]
    batch.camera.images[0, 2] = 255 - batch.camera.images[0, 2]
    b = model.extract(batch, {"camera"})[0]["heatmap"]
    assert torch.equal(a, b)
    batch.camera.images[0, 1] = 255 - batch.camera.images[0, 1]
    assert not torch.equal(a, model.extract(batch, {"camera"})[0]["heatmap"])


def test_batch_with_a_sample_that_lost_every_camera(make_batch) -> None:
    """A batch mixing a sample without cameras and one with cameras predicts (evaluate at batch size > 1 when a
    sample has lost every camera): the absent sample's camera slots carry an identity K, never a singular one."""
    import numpy as np
    from tiny import make_sample

    from sensorfuse.structures import collate

    rng = np.random.default_rng(0)
    with_cams, without = make_sample(rng, "a", n_cam=2), make_sample(rng, "b", n_cam=2)
    without.cameras = None
    batch = collate([with_cams, without])
    assert torch.equal(batch.camera.intrinsics[1], torch.eye(3).repeat(2, 1, 1))
    boxes = _model().eval().predict(batch)
    assert len(boxes) == 2


def test_absent_modality_is_not_read(make_batch) -> None:
    model = _model()
    batch = make_batch(b=2)
    batch.present["lidar"] = torch.tensor([True, False])
    a = model.extract(batch)[0]["heatmap"]
    batch.lidar[1] = batch.lidar[1] * 3.0  # absent: its points must not matter
    assert torch.equal(a, model.extract(batch)[0]["heatmap"])
    no_sensor = replace(batch, present={m: torch.tensor([True, False]) for m in batch.present})
    out = model.predict(no_sensor)
    assert len(out[1]) == 0


@pytest.mark.parametrize("field", ["lidar", "radar"])
def test_nan_points_rejected(field: str, make_batch) -> None:
    model = _model()
    batch = make_batch(b=2)
    getattr(batch, field)[1][0, 0] = float("nan")
    with pytest.raises(DataError, match=rf"sample1 \[{field}\].*NaN"):
        model.predict(batch)


def test_bad_camera_inputs_rejected(make_batch) -> None:
    model = _model()
    batch = make_batch(b=1)
    batch.camera.intrinsics[0, 1, 0, 0] = float("inf")
    with pytest.raises(DataError, match=r"camera\.intrinsics"):
        model.predict(batch)
    batch = make_batch(b=1)
    batch.camera.images = batch.camera.images.float()
    with pytest.raises(DataError, match="uint8"):
        model.predict(batch)


def test_forward_needs_ground_truth(make_batch) -> None:
    batch = replace(make_batch(b=1), gt_boxes=None)
    with pytest.raises(ValueError, match="gt_boxes"):
        _model()(batch)


@pytest.mark.cuda
def test_cuda_matches_cpu(make_batch) -> None:
    model = _model()
    batch = make_batch(b=2)
    cpu = model.extract(batch)[0]["heatmap"]
    gpu = model.to("cuda").extract(batch.to("cuda"))[0]["heatmap"].cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3, rtol=1e-3)
    boxes = model.predict(batch.to("cuda"), sensors={"camera", "radar"})
    assert len(boxes) == 2
