from __future__ import annotations

import torch

from sensorfuse.models.dropout import SensorDropout


def test_never_drops_every_modality(make_batch) -> None:
    batch = make_batch(b=6)
    d = SensorDropout({"lidar": 0.99, "camera": 0.99, "radar": 0.99}, seed=1)
    for _ in range(5):
        out = d(batch)
        alive = torch.stack([out.present[m] for m in ("lidar", "camera", "radar")]).any(0)
        assert alive.all()
        assert not torch.stack([out.present[m] for m in ("lidar", "camera", "radar")]).all(0).any()


def test_deterministic_given_seed_and_state(make_batch) -> None:
    batch = make_batch(b=4)
    a = SensorDropout({"lidar": 0.5, "radar": 0.5}, single_camera_p=0.3, radar_sweep_p=0.5, seed=7)
    b = SensorDropout({"lidar": 0.5, "radar": 0.5}, single_camera_p=0.3, radar_sweep_p=0.5, seed=7)
    a(batch)  # advance a, then copy its state into b
    b.load_state_dict(a.state_dict())
    x, y = a(batch), b(batch)
    assert all(torch.equal(x.present[m], y.present[m]) for m in x.present)
    assert torch.equal(x.camera.present, y.camera.present)
    assert all(torch.equal(r, s) for r, s in zip(x.radar, y.radar))


def test_single_cameras_and_radar_sweeps(make_batch) -> None:
    batch = make_batch(b=3, n_cam=6, n_boxes=12)
    out = SensorDropout({}, single_camera_p=0.5, radar_sweep_p=0.5, seed=0)(batch)
    assert out.camera.present.sum() < batch.camera.present.sum()
    assert (out.present["camera"] == out.camera.present.any(1)).all()
    for r_in, r_out in zip(batch.radar, out.radar):
        lags_out = set(r_out[:, 6].tolist())
        assert lags_out <= set(r_in[:, 6].tolist())
        for lag in lags_out:  # a sweep is kept whole or not at all
            assert (r_out[:, 6] == lag).sum() == (r_in[:, 6] == lag).sum()
    assert sum(len(r) for r in out.radar) < sum(len(r) for r in batch.radar)
    assert batch.camera.present.all()  # the input batch is not modified
