"""collate(): modality presence is explicit, absent modalities are never zero tensors posing as data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensorfuse.structures import (
    Boxes3D,
    CameraSet,
    PointCloud,
    RadarPoints,
    SampleMeta,
    SensorSample,
    collate,
)


def _sample(token: str, lidar: bool = True, radar: bool = True, cams: bool = True) -> SensorSample:
    rng = np.random.default_rng(0)
    meta = SampleMeta(token, "scene-0103", 0, np.eye(4), np.eye(4))
    cameras = None
    if cams:
        cameras = CameraSet(
            channels=("CAM_FRONT", "CAM_BACK"),
            images=rng.integers(0, 255, size=(2, 8, 16, 3), dtype=np.uint8),
            intrinsics=np.tile(np.eye(3, dtype=np.float32), (2, 1, 1)),
            cam_from_ref=np.tile(np.eye(4, dtype=np.float32), (2, 1, 1)),
            present=np.array([True, False]),
        )
    return SensorSample(
        meta=meta,
        lidar=PointCloud(rng.normal(size=(10, 5)).astype(np.float32)) if lidar else None,
        radar=RadarPoints(rng.normal(size=(3, 7)).astype(np.float32)) if radar else None,
        cameras=cameras,
        gt=Boxes3D.empty(),
    )


def test_collate_presence_masks() -> None:
    batch = collate([_sample("a"), _sample("b", lidar=False, cams=False)])
    assert batch.batch_size == 2
    assert batch.present["lidar"].tolist() == [True, False]
    assert batch.present["camera"].tolist() == [True, False]
    assert batch.present["radar"].tolist() == [True, True]
    assert batch.lidar is not None and batch.lidar[1].shape == (0, 5)
    assert batch.camera is not None
    assert batch.camera.images.shape == (2, 2, 3, 8, 16)
    assert batch.camera.present.tolist() == [[True, False], [False, False]]
    assert batch.gt_boxes is not None and batch.gt_boxes[0].shape == (0, 9)


def test_collate_drops_modalities_absent_everywhere() -> None:
    batch = collate([_sample("a", radar=False), _sample("b", radar=False)])
    assert batch.radar is None
    assert not bool(batch.present["radar"].any())
    moved = batch.to("cpu")
    assert moved.lidar is not None and isinstance(moved.lidar[0], torch.Tensor)


def test_point_cloud_shape_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        PointCloud(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="unknown modality"):
        _sample("a").without("sonar")
