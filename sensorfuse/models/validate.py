"""Checks at the detector boundary: bad input raises :class:`~sensorfuse.errors.DataError`, never garbage."""

from __future__ import annotations

import torch

from sensorfuse.errors import DataError
from sensorfuse.structures import LIDAR_COLUMNS, RADAR_COLUMNS, FusionBatch


def _token(batch: FusionBatch, i: int) -> str:
    return batch.meta[i].sample_token if i < len(batch.meta) else f"batch sample {i}"


def _check_points(batch: FusionBatch, points: list[torch.Tensor] | None, columns: int, field: str) -> None:
    if points is None:
        return
    if len(points) != batch.batch_size:
        raise DataError("FusionBatch", f"{len(points)} point tensors for {batch.batch_size} samples", field)
    for i, p in enumerate(points):
        if p.ndim != 2 or p.shape[1] != columns:
            raise DataError(_token(batch, i), f"points must be (N, {columns}), got {tuple(p.shape)}", field)
        if not p.is_floating_point():
            raise DataError(_token(batch, i), f"points must be float, got {p.dtype}", field)
        bad = ~torch.isfinite(p).all(1)
        if bool(bad.any()):
            raise DataError(
                _token(batch, i),
                f"{int(bad.sum())} of {len(p)} points hold NaN/inf; expected finite values",
                field,
            )


def check_batch(batch: FusionBatch) -> None:
    """Shapes, dtypes and finiteness of every sensor tensor the model reads."""
    _check_points(batch, batch.lidar, len(LIDAR_COLUMNS), "lidar")
    _check_points(batch, batch.radar, len(RADAR_COLUMNS), "radar")
    for m, p in batch.present.items():
        if p.shape != (batch.batch_size,):
            raise DataError(
                "FusionBatch",
                f"present[{m!r}] must be ({batch.batch_size},), got {tuple(p.shape)}",
                "present",
            )
    cam = batch.camera
    if cam is None:
        return
    b = batch.batch_size
    if (
        cam.images.dtype != torch.uint8
        or cam.images.ndim != 5
        or cam.images.shape[0] != b
        or cam.images.shape[2] != 3
    ):
        raise DataError(
            "FusionBatch",
            f"camera images must be (B={b}, N, 3, H, W) uint8, got {tuple(cam.images.shape)} {cam.images.dtype}",
            "camera.images",
        )
    n = cam.images.shape[1]
    for name, t, shape in (
        ("intrinsics", cam.intrinsics, (b, n, 3, 3)),
        ("cam_from_ref", cam.cam_from_ref, (b, n, 4, 4)),
    ):
        if tuple(t.shape) != shape:
            raise DataError("FusionBatch", f"must be {shape}, got {tuple(t.shape)}", f"camera.{name}")
        bad = ~torch.isfinite(t.flatten(2)).all(2) & cam.present.bool()
        if bool(bad.any()):
            i, c = (int(x) for x in torch.nonzero(bad)[0])
            raise DataError(
                _token(batch, i), f"camera {c} has NaN/inf; expected finite values", f"camera.{name}"
            )
