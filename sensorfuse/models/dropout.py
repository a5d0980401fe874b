"""Missing-sensor dropout: in training, remove whole modalities, single cameras and radar sweeps.

Applied to a :class:`~sensorfuse.structures.FusionBatch` (it only edits presence masks and drops radar
rows; the point and image tensors of dropped sensors are never read by the encoders). Never removes every
present modality of a sample. Deterministic given the module's ``torch.Generator``, whose state is saved
in the module's ``state_dict`` so a resumed run draws the same drops.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from sensorfuse.structures import FusionBatch


class SensorDropout(nn.Module):
    def __init__(
        self,
        modality_p: dict[str, float],
        single_camera_p: float = 0.0,
        radar_sweep_p: float = 0.0,
        radar_sweep_period: float = 0.077,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.modality_p = dict(modality_p)
        self.single_camera_p = single_camera_p
        self.radar_sweep_p = radar_sweep_p
        self.radar_sweep_period = radar_sweep_period
        self.generator = torch.Generator().manual_seed(seed)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def forward(self, batch: FusionBatch) -> FusionBatch:
        b = batch.batch_size
        present = {m: p.clone().cpu() for m, p in batch.present.items()}
        camera = batch.camera
        if camera is not None and self.single_camera_p > 0:
            cams = camera.present.cpu() & (self._rand(*camera.present.shape) >= self.single_camera_p)
            camera = replace(camera, present=cams.to(camera.present.device))
            present["camera"] = present["camera"] & cams.any(1)
        drop = {m: self._rand(b) < p for m, p in self.modality_p.items() if m in present and p > 0}
        for i in range(b):
            here = [m for m in present if bool(present[m][i])]
            dropped = [m for m in here if m in drop and bool(drop[m][i])]
            if len(dropped) == len(here) and dropped:  # keep one present modality, chosen at random
                keep = dropped[int(self._rand(1).item() * len(dropped)) % len(dropped)]
                dropped.remove(keep)
            for m in dropped:
                present[m][i] = False
        radar = batch.radar
        if radar is not None and self.radar_sweep_p > 0:
            radar = [self._drop_sweeps(r) for r in radar]
        dev = {m: p.device for m, p in batch.present.items()}
        return replace(
            batch, present={m: p.to(dev[m]) for m, p in present.items()}, camera=camera, radar=radar
        )

    def _drop_sweeps(self, points: torch.Tensor) -> torch.Tensor:
        """Drop whole radar sweeps: rows grouped by time-lag bucket (column 6) of ``radar_sweep_period``."""
        if len(points) == 0:
            return points
        bucket = torch.floor(points[:, 6].cpu() / self.radar_sweep_period).long().clamp(min=0)
        keep_bucket = self._rand(int(bucket.max()) + 1) >= self.radar_sweep_p
        return points[keep_bucket[bucket].to(points.device)]

    def get_extra_state(self) -> Any:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: Any) -> None:
        self.generator.set_state(state["generator"])
