"""FusionDetector: the model as its diagram.

::

    lidar  points ─ voxelize ─ PillarEncoder ─┐
    camera images ─ backbone ─ view_transform ─┼─ fuser ─ decoder ─ head ─ decode ─ list[Boxes3D]
    radar  points ─ voxelize ─ PillarEncoder ─┘  (learned token for an absent modality)

Every BEV map is (B, C, ny, nx) on one :class:`~sensorfuse.models.grid.BEVGridSpec`. Early fusers give one
stream (``"fused"``); the late fuser gives one stream per modality, each with its own decoder and head, and
their heatmap logits are summed over the present streams.

The stages are composed once, in :meth:`FusionDetector.extract` (+ ``postprocess`` in :meth:`predict`); each
runs through a :class:`~sensorfuse.models.stages.StageHook` (default: a plain call), which is how the latency
benchmark, replay and the model summary time the very code ``predict`` runs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from sensorfuse.models.camera import CameraEncoder, depth_loss
from sensorfuse.models.config import HeadConfig
from sensorfuse.models.dropout import SensorDropout
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.head import center_losses, decode
from sensorfuse.models.parts import Encoder, FusedBEV, Fuser
from sensorfuse.models.pillars import PillarEncoder
from sensorfuse.models.stages import EAGER, StageHook
from sensorfuse.models.targets import build_targets
from sensorfuse.models.validate import check_batch
from sensorfuse.ops import VoxelResult
from sensorfuse.structures import Boxes3D, CameraBatch, FusionBatch


class FusionDetector(nn.Module):
    """Multi-modal BEV detector.

    Args:
        grid: the BEV grid of every map.
        encoders: modality → encoder (``lidar``/``radar``: :class:`PillarEncoder`, ``camera``: :class:`CameraEncoder`).
        fuser: a :class:`~sensorfuse.models.parts.Fuser` (its ``output_shape()`` names its streams).
        decoder: stream → BEV decoder.
        head: stream → :class:`~sensorfuse.models.head.CenterHead`.
        head_cfg: target, loss and decoding settings.
        dropout: missing-sensor dropout applied in ``forward`` while training, or None.
        depth_loss_weight: weight of LiDAR-supervised camera depth (0 = off).
    """

    def __init__(
        self,
        *,
        grid: BEVGridSpec,
        encoders: Mapping[str, Encoder],
        fuser: Fuser,
        decoder: Mapping[str, nn.Module],
        head: Mapping[str, nn.Module],
        head_cfg: HeadConfig,
        dropout: SensorDropout | None = None,
        depth_loss_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.encoders = nn.ModuleDict(encoders)
        self.fuser = fuser
        self.decoder = nn.ModuleDict(decoder)
        self.head = nn.ModuleDict(head)
        self.head_cfg = head_cfg
        self.dropout = dropout
        self.depth_loss_weight = depth_loss_weight

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self.encoders)

    # ---- stages (composed once, in extract/predict; each runs through the StageHook) --------------------
    def active(self, batch: FusionBatch, sensors: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Modality → (B,) bool for the modalities this model has, that ``sensors`` allows and the batch holds."""
        allowed = set(self.sensors if sensors is None else sensors)
        tensors = {"lidar": batch.lidar, "radar": batch.radar, "camera": batch.camera}
        out = {}
        for m in self.sensors:
            if m in allowed and tensors[m] is not None and m in batch.present:
                here = batch.present[m].bool()
                if m == "camera" and batch.camera is not None:
                    here = here & batch.camera.present.to(here.device).any(1)
                out[m] = here
        return out

    def voxelize(self, batch: FusionBatch, modality: str, present: torch.Tensor) -> list[VoxelResult | None]:
        """Pillars of ``lidar`` or ``radar`` points (None for absent samples)."""
        enc = self.encoders[modality]
        points = batch.lidar if modality == "lidar" else batch.radar
        if not isinstance(enc, PillarEncoder) or points is None:
            raise ValueError(
                f"voxelize({modality!r}): the model has no point encoder or the batch no points for it"
            )
        return enc.voxelize(points, present)

    def encode_points(self, modality: str, voxels: list[VoxelResult | None]) -> torch.Tensor:
        """``lidar_encoder`` / ``radar_encoder`` stage: pillars → (B, C, ny, nx)."""
        out: torch.Tensor = self.encoders[modality](voxels)
        return out

    def camera_backbone(self, batch: FusionBatch, present: torch.Tensor) -> torch.Tensor:
        """``camera_encoder`` stage: images → (B, N_cam, C, h, w) features of present cameras."""
        enc, cam = self.camera_parts(batch)
        return enc.image_features(cam.images, self.camera_present(batch, present))

    def view_transform(
        self, batch: FusionBatch, present: torch.Tensor, feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``view_transform`` stage: image features → camera BEV (B, C, ny, nx) and depth logits."""
        enc, cam = self.camera_parts(batch)
        out = enc.view_transform(
            feats,
            cam.intrinsics,
            cam.cam_from_ref,
            self.camera_present(batch, present),
            (cam.images.shape[-2], cam.images.shape[-1]),
        )
        return out.bev, out.depth_logits

    def fuse(self, feats: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> FusedBEV:
        """``fuser`` stage."""
        fused: FusedBEV = self.fuser(feats=feats, present=present)
        return fused

    def head_forward(self, fused: FusedBEV) -> dict[str, torch.Tensor]:
        """``head`` stage: decoder + head per stream; streams combined (heatmap logits summed over present ones)."""
        outs = {s: self.head[s](self.decoder[s](x)) for s, x in fused.maps.items()}
        return combine_streams(outs, fused.present)

    def decode(self, outputs: dict[str, torch.Tensor]) -> list[Boxes3D]:
        """``postprocess`` stage: top-K + circle NMS → boxes in the reference frame."""
        c = self.head_cfg
        return decode(outputs, self.grid, c.top_k, c.score_threshold, c.nms_radius, c.max_detections)

    # ---- composed ----------------------------------------------------------------------------------------
    def extract(
        self, batch: FusionBatch, sensors: Iterable[str] | None = None, stages: StageHook = EAGER
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
        """Encode, fuse and run the head: (head outputs, active presence, camera depth logits or None).

        The one composition of the model's stages; each runs through ``stages`` (see
        :mod:`sensorfuse.models.stages`), under the names of :data:`~sensorfuse.models.stages.MODEL_STAGES`.
        """
        run = stages.run
        check_batch(batch)
        present = self.active(batch, sensors)
        if not present:
            raise ValueError(
                f"no usable sensor: the model has {self.sensors}, sensors={sorted(sensors or self.sensors)}, "
                f"batch holds {[m for m, t in (('lidar', batch.lidar), ('camera', batch.camera), ('radar', batch.radar)) if t is not None]}"
            )
        feats: dict[str, torch.Tensor] = {}
        depth = None
        for m in ("lidar", "radar"):
            if m in present:
                voxels = run("voxelize", self.voxelize, batch, m, present[m])
                feats[m] = run(f"{m}_encoder", self.encode_points, m, voxels)
        if "camera" in present:
            images = run("camera_encoder", self.camera_backbone, batch, present["camera"])
            feats["camera"], depth = run(
                "view_transform", self.view_transform, batch, present["camera"], images
            )
        fused = run("fuser", self.fuse, feats, present)
        return run("head", self.head_forward, fused), present, depth

    def forward(self, batch: FusionBatch) -> dict[str, torch.Tensor]:
        """Training losses (needs ground truth); ``"loss"`` is their sum."""
        if self.training and self.dropout is not None:
            batch = self.dropout(batch)
        boxes, labels, attrs = batch.gt_boxes, batch.gt_labels, batch.gt_attributes
        if boxes is None or labels is None or attrs is None:
            raise ValueError(
                "FusionDetector.forward needs gt_boxes, gt_labels and gt_attributes (use predict())"
            )
        outputs, present, depth = self.extract(batch)
        c = self.head_cfg
        n_cls = outputs["heatmap"].shape[1]
        targets = build_targets(
            self.grid, boxes, labels, attrs, n_cls, c.max_objects, c.gaussian_overlap, c.min_radius
        )
        losses = center_losses(outputs, targets, c.heatmap_weight, c.regression_weight, c.attribute_weight)
        if depth is not None and self.depth_loss_weight > 0 and batch.lidar is not None:
            losses["loss_depth"] = self.depth_loss_weight * self._depth_loss(batch, present["camera"], depth)
        losses["loss"] = _add(losses.values())
        return losses

    @torch.no_grad()
    def predict(
        self, batch: FusionBatch, sensors: Iterable[str] | None = None, stages: StageHook = EAGER
    ) -> list[Boxes3D]:
        """Boxes in the reference frame per sample, using only ``sensors`` (default: all the model has).

        A sample with none of the chosen sensors present gets no boxes — also when no sample of the batch has
        one (a frame whose sensors were all lost: the data accounting says why). ``stages`` runs each stage
        (e.g. a :class:`~sensorfuse.utils.timing.StageTimer` to time them); it never changes the result.

        Raises:
            ValueError: ``sensors`` names none of the model's modalities.
        """
        if not set(self.sensors if sensors is None else sensors) & set(self.sensors):
            raise ValueError(
                f"no usable sensor: the model has {self.sensors}, sensors={sorted(sensors or ())}"
            )
        if not self.active(batch, sensors):
            return [Boxes3D.empty() for _ in range(batch.batch_size)]
        outputs, present, _ = self.extract(batch, sensors, stages)
        boxes = stages.run("postprocess", self.decode, outputs)
        anything = torch.stack(list(present.values())).any(0).tolist()
        return [b if ok else Boxes3D.empty() for b, ok in zip(boxes, anything)]

    def _depth_loss(self, batch: FusionBatch, present: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Camera depth logits (B, N, D, h, w) against the LiDAR of the same sample (all its points)."""
        enc, cam = self.camera_parts(batch)
        if batch.lidar is None:
            raise ValueError("depth supervision needs LiDAR points")
        h, w = depth.shape[-2:]
        tgt = enc.depth_targets(
            batch.lidar,
            cam.intrinsics,
            cam.cam_from_ref,
            (h, w),
            (cam.images.shape[-2], cam.images.shape[-1]),
        )
        tgt = torch.where(self.camera_present(batch, present)[..., None, None], tgt, -1)
        return depth_loss(depth, tgt)

    # ---- helpers -----------------------------------------------------------------------------------------
    def camera_parts(self, batch: FusionBatch) -> tuple[CameraEncoder, CameraBatch]:
        """The camera encoder and the batch's camera tensors (ValueError if either is missing)."""
        enc = self.encoders["camera"]
        if not isinstance(enc, CameraEncoder) or batch.camera is None:
            raise ValueError("camera stage called without a camera encoder or camera tensors")
        return enc, batch.camera

    @staticmethod
    def camera_present(batch: FusionBatch, present: torch.Tensor) -> torch.Tensor:
        """(B, N_cam) bool: the cameras present in samples where the camera modality is used (``present``)."""
        if batch.camera is None:
            raise ValueError("the batch has no camera tensors")
        return batch.camera.present.bool() & present.to(batch.camera.present.device)[:, None]


def combine_streams(
    outs: Mapping[str, dict[str, torch.Tensor]], present: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Head outputs per stream → one set: a single stream as it is; several (late fusion): heatmap logits
    summed over the streams present per sample, regression and attribute maps averaged over them."""
    if len(outs) == 1:
        return next(iter(outs.values()))
    w = {s: present[s].float().view(-1, 1, 1, 1) for s in outs}
    total = _add(w.values()).clamp(min=1.0)
    return {
        "heatmap": _add(w[s] * o["heatmap"] for s, o in outs.items()),
        "regression": _add(w[s] * o["regression"] for s, o in outs.items()) / total,
        "attribute": _add(w[s] * o["attribute"] for s, o in outs.items()) / total,
    }


def _add(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """The sum of tensors, left to right (what ``sum()`` computes, typed as a tensor)."""
    out: torch.Tensor = functools.reduce(operator.add, terms)
    return out
