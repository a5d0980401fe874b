"""The detector's network stages as graphs: tensor-in, tensor-out modules cut at the project's kernels.

Each network stage of :meth:`FusionDetector.extract <sensorfuse.models.detector.FusionDetector.extract>` becomes
one or more graphs; what lies between them stays the project's code::

    stage            graph(s)                    kept outside the graphs
    voxelize         –                           voxelize kernel (sensorfuse.ops, Numba / CUDA)
    lidar_encoder    lidar_encoder               packing the samples' pillars into flat (V, ...) tensors
    radar_encoder    radar_encoder               (the same)
    camera_encoder   camera_backbone             –
    view_transform   camera_depth, camera_bev    frustum geometry + bev_pool kernel between the two graphs
    fuser            fuser                       an absent modality enters as zeros with present = False
    head             head.<stream>               late fusion's streams combined (combine_streams)
    postprocess      –                           decode: top-K + circle NMS

:func:`stage_functions` gives, for each of these stages, a function with the stage method's own signature
that runs its graphs through a :data:`GraphCall` — the torch modules themselves (:class:`TorchGraphs`:
bit-identical to ``predict``, ``tests/deploy/test_graphs.py``), ``torch.compile`` of them or ONNX Runtime
sessions (:mod:`sensorfuse.deploy.runtime`). Plugged into ``predict`` through the stage hook
(:class:`sensorfuse.models.stages.Override`), they leave the composition in the detector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import torch
from torch import nn

from sensorfuse.models.camera import CameraEncoder
from sensorfuse.models.detector import FusionDetector, combine_streams
from sensorfuse.models.parts import Encoder, FusedBEV, Fuser
from sensorfuse.models.pillars import PillarEncoder, PillarFeatureNet
from sensorfuse.ops import VoxelResult, bev_pool
from sensorfuse.structures import FusionBatch

#: The head's output maps, in the order of the ``head.<stream>`` graphs' outputs.
HEAD_OUTPUTS: Final[tuple[str, ...]] = ("heatmap", "regression", "attribute")


@dataclass(frozen=True)
class GraphSpec:
    """One graph: its file stem, the detector stage it serves, input/output names and their varying axes.

    ``dynamic_axes``: tensor name → {axis: symbol} for the axes that vary with the data (``batch``,
    ``pillars``, ``cameras``); every other axis is fixed by the model config (grid, image size, channels).
    """

    name: str
    stage: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic_axes: Mapping[str, Mapping[int, str]]


class GraphCall(Protocol):
    """Runs graph ``name`` on named input tensors; returns its outputs in :attr:`GraphSpec.outputs` order."""

    def __call__(self, name: str, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]: ...


# -- the graphs ---------------------------------------------------------------------------------------------
class PointsGraph(nn.Module):
    """``lidar_encoder`` / ``radar_encoder`` after voxelization: pillar feature net → canvas → BEV backbone.

    Inputs: ``voxels`` (V, P, C) float32, ``num_points`` (V,) int64, ``coords`` (V, 3) int64 (z, y, x),
    ``sample`` (V,) int64 (batch index of each pillar), ``present`` (B,) bool (gives the batch size).
    Output: ``bev`` (B, C_out, ny, nx). The computation of :meth:`PillarEncoder.scatter` + backbone, on pillars
    packed by :func:`pack_pillars`.

    With ``dense`` (the deployment form: export and ``compile``), the pillar feature net runs on every point
    slot of every pillar and max-pools with empty slots masked (:func:`dense_pillar_features`), as
    CUDA-PointPillars and mmdeploy deploy PointPillars: no data-dependent shapes (the model's own net selects
    the valid points and scatter-maxes them, which ONNX Runtime runs single-threaded and ``torch.compile``
    cannot trace). The result agrees with the model's net to float rounding (``tests/deploy/test_graphs.py``).
    """

    def __init__(self, encoder: PillarEncoder, dense: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.dense = dense

    def forward(
        self,
        voxels: torch.Tensor,
        num_points: torch.Tensor,
        coords: torch.Tensor,
        sample: torch.Tensor,
        present: torch.Tensor,
    ) -> torch.Tensor:
        enc, g = self.encoder, self.encoder.pillar_grid
        b, cells = present.shape[0], g.ny * g.nx
        if self.dense:
            feats = dense_pillar_features(enc.pfn, voxels, num_points, coords)
        else:
            feats = enc.pfn(voxels, num_points, coords)
        canvas = voxels.new_zeros(b * cells, enc.pfn.out_channels)
        canvas[sample * cells + coords[:, 1] * g.nx + coords[:, 2]] = feats
        out: torch.Tensor = enc.backbone(canvas.view(b, g.ny, g.nx, -1).permute(0, 3, 1, 2).contiguous())
        return out


def dense_pillar_features(
    pfn: PillarFeatureNet, voxels: torch.Tensor, num_points: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """:class:`PillarFeatureNet` (eval mode) computed densely: (V, P, C) → (V, out_channels).

    The same inputs per point (columns x scale, offsets to the pillar's point mean and centre), linear + BN +
    ReLU on all V x P slots, then the max over the valid slots (features are >= 0 after the ReLU, so masking
    empty slots to 0 gives the model's ``scatter_reduce(amax, include_self)`` over zeros).
    """
    v, p, _ = voxels.shape
    feats, mask = pfn.point_features(voxels, num_points, coords)
    valid = mask[..., None]  # (V, P, 1)
    h = torch.relu(pfn.norm(pfn.linear(feats).flatten(0, 1))).view(v, p, -1)
    return (h * valid).amax(1)


class ImageGraph(nn.Module):
    """``camera_encoder``: (N, 3, H, W) uint8 images of the present cameras → (N, C, h, w) features.

    The normalisation + backbone of :meth:`CameraEncoder.image_features`; selecting the present cameras and
    putting their features back in place stays outside the graph (:func:`stage_functions`), where it is an
    index, not a scatter over the feature maps.
    """

    def __init__(self, encoder: CameraEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        out: torch.Tensor = enc.backbone((images.float() - enc.mean) / enc.std)
        return out


class DepthGraph(nn.Module):
    """``view_transform``, before the frustum: (B, N, C, h, w) features → depth distribution × context.

    Outputs ``volume`` (B, N, D, h, w, C) — what :func:`sensorfuse.ops.bev_pool` pools — and ``depth_logits``
    (B, N, D, h, w); the lift of :meth:`CameraEncoder.view_transform`.
    """

    def __init__(self, encoder: CameraEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encoder
        b, n, _, h, w = feats.shape
        out = enc.lift(feats.flatten(0, 1))
        depth_logits = out[:, : enc.num_bins]
        context = out[:, enc.num_bins :]
        volume = depth_logits.softmax(1)[:, :, None] * context[:, None]
        volume = volume.view(b, n, enc.num_bins, -1, h, w).permute(0, 1, 2, 4, 5, 3)
        return volume.contiguous(), depth_logits.view(b, n, enc.num_bins, h, w)


class CameraBEVGraph(nn.Module):
    """``view_transform``, after ``bev_pool``: the camera BEV conv, (B, C, ny, nx) → (B, C_out, ny, nx)."""

    def __init__(self, encoder: CameraEncoder) -> None:
        super().__init__()
        self.bev_conv = encoder.bev_conv

    def forward(self, bev: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bev_conv(bev)
        return out


class FuserGraph(nn.Module):
    """``fuser``: one map (B, C_m, ny, nx) and one (B,) bool present per modality of the fuser, in its order →
    one map and one present per output stream. An absent modality is a zero map with present False, which every
    fuser replaces by its learned missing token, as it does for a modality it is not given."""

    def __init__(self, fuser: Fuser) -> None:
        super().__init__()
        self.fuser = fuser

    def forward(self, *maps_then_present: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = self.fuser.modalities
        feats = dict(zip(m, maps_then_present[: len(m)]))
        present = dict(zip(m, maps_then_present[len(m) :]))
        fused = self.fuser(feats=feats, present=present)
        streams = self.fuser.streams
        return (*(fused.maps[s] for s in streams), *(fused.present[s] for s in streams))


class HeadGraph(nn.Module):
    """``head`` of one stream: decoder + CenterHead, (B, C, ny, nx) → heatmap, regression, attribute maps."""

    def __init__(self, decoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.decoder, self.head = decoder, head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out: dict[str, torch.Tensor] = self.head(self.decoder(x))
        return out["heatmap"], out["regression"], out["attribute"]


def graphs(model: FusionDetector, deploy: bool = True) -> dict[str, tuple[GraphSpec, nn.Module]]:
    """Every graph of ``model`` (name → spec, module).

    ``deploy``: the form that is exported and compiled (the dense pillar feature net of :class:`PointsGraph`);
    without it every graph computes exactly what the model's modules do (bit for bit: the check of the stage
    functions in ``tests/deploy/test_graphs.py``).
    """
    batch = {0: "batch"}
    out: dict[str, tuple[GraphSpec, nn.Module]] = {}
    for m, enc in model.encoders.items():
        if isinstance(enc, PillarEncoder):
            pillars = {0: "pillars"}
            spec = GraphSpec(
                f"{m}_encoder", f"{m}_encoder", ("voxels", "num_points", "coords", "sample", "present"),
                ("bev",), {"voxels": pillars, "num_points": pillars, "coords": pillars, "sample": pillars,
                           "present": batch, "bev": batch},
            )  # fmt: skip
            out[spec.name] = (spec, PointsGraph(enc, dense=deploy))
    cam = next((e for e in model.encoders.values() if isinstance(e, CameraEncoder)), None)
    if isinstance(cam, CameraEncoder):
        bn = {0: "batch", 1: "cameras"}
        specs = [
            (GraphSpec("camera_backbone", "camera_encoder", ("images",), ("feats",),
                       {"images": {0: "images"}, "feats": {0: "images"}}), ImageGraph(cam)),
            (GraphSpec("camera_depth", "view_transform", ("feats",), ("volume", "depth_logits"),
                       {"feats": bn, "volume": bn, "depth_logits": bn}), DepthGraph(cam)),
            (GraphSpec("camera_bev", "view_transform", ("bev",), ("camera_bev",),
                       {"bev": batch, "camera_bev": batch}), CameraBEVGraph(cam)),
        ]  # fmt: skip
        out.update((s.name, (s, mod)) for s, mod in specs)
    fuser = model.fuser
    f_in = (*fuser.modalities, *(f"{m}_present" for m in fuser.modalities))
    f_out = (*fuser.streams, *(f"{s}_present" for s in fuser.streams))
    out["fuser"] = (
        GraphSpec("fuser", "fuser", f_in, tuple(f"out.{n}" for n in f_out), {n: batch for n in f_in}),
        FuserGraph(fuser),
    )
    for s in fuser.streams:
        spec = GraphSpec(f"head.{s}", "head", ("x",), HEAD_OUTPUTS, {n: batch for n in ("x", *HEAD_OUTPUTS)})
        out[spec.name] = (spec, HeadGraph(model.decoder[s], model.head[s]))
    for _, (_, mod) in out.items():
        mod.eval()
    return out


# -- the stages, running their graphs through a GraphCall -----------------------------------------------------
def pack_pillars(
    voxels: Sequence[VoxelResult | None], encoder: PillarEncoder, device: torch.device
) -> dict[str, torch.Tensor]:
    """The samples' pillars as :class:`PointsGraph` inputs (the packing of :meth:`PillarEncoder.scatter`).

    With no pillar in the whole batch, one pillar of zero points stands in (a graph runtime may refuse empty
    tensors): it scatters a zero feature onto a zero canvas, which changes nothing.
    """
    parts = [(b, vr) for b, vr in enumerate(voxels) if vr is not None and vr.num_voxels > 0]
    present = torch.ones(len(voxels), dtype=torch.bool, device=device)
    if not parts:
        p, c = encoder.max_points, encoder.pfn.linear.in_features - 5
        zero = torch.zeros(1, dtype=torch.long, device=device)
        return {"voxels": torch.zeros(1, p, c, device=device), "num_points": zero,
                "coords": torch.zeros(1, 3, dtype=torch.long, device=device), "sample": zero,
                "present": present}  # fmt: skip
    return {
        "voxels": torch.cat([vr.voxels for _, vr in parts]).to(device),
        "num_points": torch.cat([vr.num_points for _, vr in parts]).to(device).long(),
        "coords": torch.cat([vr.coords for _, vr in parts]).to(device).long(),
        "sample": torch.cat([torch.full((vr.num_voxels,), b, dtype=torch.long) for b, vr in parts]).to(
            device
        ),
        "present": present,
    }


def stage_functions(model: FusionDetector, call: GraphCall) -> dict[str, Callable[..., Any]]:
    """Stage name → a function with the stage method's signature that runs the stage's graphs via ``call``."""
    device = next(model.parameters()).device
    fuser = model.fuser
    points = {m: e for m, e in model.encoders.items() if isinstance(e, PillarEncoder)}
    channels = {m: e.output_shape().channels for m, e in model.encoders.items() if isinstance(e, Encoder)}
    fns: dict[str, Callable[..., Any]] = {}

    def encode_points(modality: str, voxels: list[VoxelResult | None]) -> torch.Tensor:
        return call(f"{modality}_encoder", pack_pillars(voxels, points[modality], device))[0]

    def camera_backbone(batch: FusionBatch, present: torch.Tensor) -> torch.Tensor:
        """:meth:`CameraEncoder.image_features` with the backbone as a graph: absent cameras stay zeros."""
        _, cam = model.camera_parts(batch)
        here = model.camera_present(batch, present).flatten()
        b, n = cam.images.shape[:2]
        feats = call("camera_backbone", {"images": cam.images.flatten(0, 1)[here]})[0]
        out = feats.new_zeros((b * n, *feats.shape[1:]))
        out[here] = feats
        return out.view(b, n, *feats.shape[1:])

    def view_transform(
        batch: FusionBatch, present: torch.Tensor, feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        enc, cam = model.camera_parts(batch)
        volume, depth_logits = call("camera_depth", {"feats": feats})
        cells = enc.frustum_cells(
            cam.intrinsics,
            cam.cam_from_ref,
            model.camera_present(batch, present),
            (feats.shape[-2], feats.shape[-1]),
            (cam.images.shape[-2], cam.images.shape[-1]),
        )
        bev = bev_pool(volume, cells, enc.grid.shape)
        return call("camera_bev", {"bev": bev})[0], depth_logits

    def fuse(feats: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> FusedBEV:
        like = next(iter(feats.values()))
        b, ny, nx = like.shape[0], like.shape[-2], like.shape[-1]
        inputs: dict[str, torch.Tensor] = {}
        for m in fuser.modalities:
            inputs[m] = feats[m] if m in feats else like.new_zeros(b, channels[m], ny, nx)
            absent = torch.zeros(b, dtype=torch.bool, device=like.device)
            inputs[f"{m}_present"] = present[m].to(like.device) if m in feats else absent
        out = call("fuser", inputs)
        n = len(fuser.streams)
        maps, stream_present = dict(zip(fuser.streams, out[:n])), dict(zip(fuser.streams, out[n:]))
        # the streams predict would give, in its order: late fusion has one per *encoded* modality
        order = [s for s in feats if s in maps] + [s for s in fuser.streams if s not in fuser.modalities]
        return FusedBEV({s: maps[s] for s in order}, {s: stream_present[s] for s in order})

    def head_forward(fused: FusedBEV) -> dict[str, torch.Tensor]:
        outs = {s: dict(zip(HEAD_OUTPUTS, call(f"head.{s}", {"x": x}))) for s, x in fused.maps.items()}
        return combine_streams(outs, fused.present)

    fns.update((f"{m}_encoder", encode_points) for m in points)
    if any(isinstance(e, CameraEncoder) for e in model.encoders.values()):
        fns["camera_encoder"] = camera_backbone
        fns["view_transform"] = view_transform
    fns["fuser"] = fuse
    fns["head"] = head_forward
    return fns


class TorchGraphs:
    """A :data:`GraphCall` that runs the graphs' torch modules (eager), optionally recording their inputs.

    With ``record``, :attr:`recorded` keeps every call's inputs per graph: the example inputs of export and the
    inputs each exported graph is checked on.
    """

    def __init__(self, modules: Mapping[str, tuple[GraphSpec, nn.Module]], record: bool = False) -> None:
        self.modules = modules
        self.record = record
        self.recorded: dict[str, list[dict[str, torch.Tensor]]] = {}

    def __call__(self, name: str, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        spec, module = self.modules[name]
        if self.record:
            self.recorded.setdefault(name, []).append(dict(inputs))
        out = module(*(inputs[k] for k in spec.inputs))
        return list(out) if isinstance(out, tuple) else [out]
