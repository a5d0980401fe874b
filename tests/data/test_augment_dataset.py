"""Augmentation keeps modalities consistent; FusionDataset works with DataLoader workers and collate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sensorfuse.boxes import count_points_in_boxes
from sensorfuse.calib.camera import project
from sensorfuse.data import FusionDataset, NuScenesIndex, SampleConfig, load_sample
from sensorfuse.data.augment import (
    GlobalAugment,
    apply_augmentation,
    augmentation_matrix,
    transform_boxes_linear,
)
from sensorfuse.structures import collate

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def sample(real_world: tuple[Path, str, str]):  # type: ignore[no-untyped-def]
    root, version, token = real_world
    return load_sample(NuScenesIndex(root, version), token, SampleConfig(lidar_min_distance=0.0))


@pytest.mark.parametrize(
    ("yaw", "scale", "fx", "fy"),
    [(0.7, 1.04, False, False), (-2.0, 0.95, True, False), (0.3, 1.0, True, True)],
)
def test_augmentation_is_consistent(sample, yaw: float, scale: float, fx: bool, fy: bool) -> None:  # type: ignore[no-untyped-def]
    a = augmentation_matrix(yaw, scale, fx, fy)
    aug = apply_augmentation(sample, a)
    # points in boxes are invariant (boxes and points move together; the rare face-touching point aside)
    before = count_points_in_boxes(sample.lidar.points, sample.gt.boxes)
    after = count_points_in_boxes(aug.lidar.points, aug.gt.boxes)
    assert np.abs(before - after).max() <= 1 and before.sum() > 500
    # each camera still sees the same pixels
    for i in range(6):
        p0, p1 = (
            sample.lidar.points[::50, :3].astype(np.float64),
            aug.lidar.points[::50, :3].astype(np.float64),
        )
        c0 = (
            p0 @ sample.cameras.cam_from_ref[i][:3, :3].T.astype(np.float64)
            + sample.cameras.cam_from_ref[i][:3, 3]
        )
        m = aug.cameras.cam_from_ref[i].astype(np.float64)
        c1 = p1 @ m[:3, :3].T + m[:3, 3]
        uv0, d0 = project(c0, sample.cameras.intrinsics[i])
        uv1, _ = project(c1, aug.cameras.intrinsics[i])
        ok = d0 > 1
        np.testing.assert_allclose(uv1[ok], uv0[ok], atol=0.05)
    # radar: speed scales with the map, and the angle to the box heading is kept up to the mirror
    v0, v1 = sample.radar.points[:, 3:5], aug.radar.points[:, 3:5]
    np.testing.assert_allclose(
        np.linalg.norm(v1, axis=1), scale * np.linalg.norm(v0, axis=1), rtol=1e-4, atol=1e-4
    )
    # predictions in the augmented frame map back to the same global boxes
    g0 = transform_boxes_linear(sample.gt.boxes, sample.meta.global_from_ref)
    g1 = transform_boxes_linear(aug.gt.boxes, aug.meta.global_from_ref)
    np.testing.assert_allclose(g1[:, :6], g0[:, :6], atol=1e-3)
    assert np.abs(np.angle(np.exp(1j * (g1[:, 6] - g0[:, 6])))).max() < 1e-3
    np.testing.assert_allclose(g1[:, 7:9], g0[:, 7:9], atol=1e-4)


def test_dataset_with_workers_and_random_augment(real_world: tuple[Path, str, str]) -> None:
    root, version, token = real_world
    idx = NuScenesIndex(root, version)
    ds = FusionDataset(idx, "mini_train", SampleConfig(image_size=(128, 352)), augment=GlobalAugment())
    assert len(ds) == 1
    ds.tokens = [token] * 4
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == 2 and batches[0].camera is not None
    assert batches[0].camera.images.shape == (2, 6, 3, 128, 352)
    firsts = torch.stack([b.lidar[0][:3, :3] for b in batches] + [b.lidar[1][:3, :3] for b in batches])
    assert (
        len({tuple(np.round(f.numpy().ravel(), 3)) for f in firsts}) == 4
    )  # a different augmentation per item
