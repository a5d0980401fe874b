"""The model runner (replay, latency benchmark): its timed prediction is ``predict``, bit for bit.

class: timed path diverges from predict (the runner used by replay and the benchmark computing something else
than ``sensorfuse evaluate``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sensorfuse.bench.latency import TINY_OVERRIDES
from sensorfuse.engine.runner import ModelRunner, synthetic_sample
from sensorfuse.structures import Boxes3D, collate
from sensorfuse.utils.timing import StageTimer

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("lidar", "camera", "radar"), r)]


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    from sensorfuse.engine.config import load_config
    from sensorfuse.models.build import build_detector

    cfg = load_config(None, [*TINY_OVERRIDES, "model.head.score_threshold=0.0"])
    torch.manual_seed(0)
    return ModelRunner(build_detector(cfg.model), cfg.data.sample, "cpu")


def _equal(a: Boxes3D, b: Boxes3D) -> bool:
    return all(
        torch.equal(torch.from_numpy(getattr(a, f)), torch.from_numpy(getattr(b, f)))
        for f in ("boxes", "scores", "labels", "attributes")
    )


def test_timed_sample_equals_predict_for_every_subset(runner: ModelRunner) -> None:
    sample = synthetic_sample(runner.sample_config, n_lidar=3000, n_radar=60)
    batch = collate([sample])
    try:
        for subset in SUBSETS:
            runner.sensors = subset
            timer = StageTimer()
            with timer.frame():
                timed = runner.predict_sample(sample, timer)
            assert len(timed) > 0  # score threshold 0: something to compare
            assert _equal(timed, runner.model.predict(batch, sensors=subset)[0]), subset
            assert "load" in timer.frames[0] and "postprocess" in timer.frames[0]
    finally:
        runner.sensors = tuple(runner.model.sensors)


def test_no_usable_sensor_gives_empty_boxes_not_an_error(runner: ModelRunner) -> None:
    """Replay keeps going when every sensor of a frame is missing: no boxes, no network stage run."""
    sample = synthetic_sample(runner.sample_config, n_lidar=100).without("lidar", "camera", "radar")
    timer = StageTimer()
    with timer.frame():
        boxes = runner.predict_sample(sample, timer)
    assert len(boxes) == 0 and set(timer.frames[0]) == {"load"}
    assert [len(b) for b in runner.model.predict(collate([sample, sample]))] == [0, 0]


def test_synthetic_sample_sizes_follow_the_config(runner: ModelRunner) -> None:
    cfg = runner.sample_config
    s = synthetic_sample(cfg)
    assert s.lidar is not None and len(s.lidar) == 34_000 * cfg.lidar_sweeps
    assert s.radar is not None and len(s.radar) == 60 * len(cfg.radars) * cfg.radar_sweeps
    assert s.cameras is not None and s.cameras.channels == tuple(cfg.cameras)
    assert s.cameras.images.shape[1:3] == tuple(cfg.image_size)
    again = synthetic_sample(cfg)
    assert again.lidar is not None and np.array_equal(s.lidar.points, again.lidar.points)  # seeded
