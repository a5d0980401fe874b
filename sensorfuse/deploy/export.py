"""Per-stage ONNX export: ``sensorfuse export onnx --checkpoint C --out DIR``.

The model predicts a few samples with its network stages routed through their graphs' torch modules
(:class:`~sensorfuse.deploy.graphs.TorchGraphs`, plugged in by the stage hook), which records each graph's
inputs: the first batch's are the example inputs of the export, and every recorded call is replayed through
the exported graph in ONNX Runtime and compared with PyTorch (max abs error per output). Then the whole model
runs through ONNX Runtime and its head outputs are compared with eager ``predict``'s. All graphs and
``manifest.json`` (opset, shapes, versions, errors, weight digest) are published together (``atomic_dir``): a
failed check leaves nothing behind.

The exporter is ``torch.onnx.export(..., dynamo=False)`` (TorchScript tracing): it exports every graph in well
under a second (``torch.export`` took ~6 s for the small config's fuser alone), works on every torch the project
supports (>= 2.4), and lets the fuser's attention be written as ONNX Runtime's fused ``MultiHeadAttention``
(:func:`_sdpa_as_mha`; ``attention="onnx"`` keeps standard ops).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import torch

from sensorfuse.data.config import SampleConfig
from sensorfuse.deploy.graphs import GraphSpec, TorchGraphs, graphs, stage_functions
from sensorfuse.errors import SensorfuseError
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.fusers import WindowBlock
from sensorfuse.models.stages import Override
from sensorfuse.structures import FusionBatch, SensorSample, collate
from sensorfuse.utils.atomic import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)

OPSET: Final[int] = 17
MANIFEST_FORMAT: Final[str] = "sensorfuse-onnx/1"
#: An exported graph passes when, per output, max |onnx - torch| <= ATOL + RTOL * max |torch|.
ATOL: Final[float] = 1e-4
RTOL: Final[float] = 1e-4


class ExportCheckError(SensorfuseError):
    """An exported graph disagrees with PyTorch beyond the tolerance (nothing was written)."""


def weights_digest(model: FusionDetector) -> str:
    """SHA-256 of the model's state (names, dtypes, shapes, values): ties exported graphs to their weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if not isinstance(t, torch.Tensor):
            h.update(f"{name}:{t!r}".encode())
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def synthetic_batches(cfg: SampleConfig, n: int = 2) -> list[FusionBatch]:
    """Export batches from :func:`~sensorfuse.models.fake.synthetic_sample`: a batch of the first two samples
    (the example inputs; batch size 2 keeps the batch axis from being fixed at 1), then each sample alone."""
    from sensorfuse.models.fake import synthetic_sample

    samples = [
        synthetic_sample(cfg, n_lidar=(20_000 + 3_000 * i) * cfg.lidar_sweeps, seed=i)
        for i in range(max(n, 1))
    ]
    return batches_of(samples)


def batches_of(samples: Sequence[SensorSample]) -> list[FusionBatch]:
    """A batch of the first two samples (if two), then each sample alone."""
    pairs = [collate(list(samples[:2]))] if len(samples) > 1 else []
    return pairs + [collate([s]) for s in samples]


def dataset_batches(
    dataroot: str | Path, version: str, split: str, cfg: SampleConfig, n: int
) -> tuple[list[FusionBatch], list[str]]:
    """Export batches from the first ``n`` keyframes of ``split`` (real point counts and images); their tokens."""
    from dataclasses import replace

    from sensorfuse.data.sample import load_sample
    from sensorfuse.errors import ConfigError
    from sensorfuse.sources.nuscenes.index import NuScenesIndex

    index = NuScenesIndex(dataroot, version)
    tokens = list(index.split_tokens(split))[: max(n, 1)]
    if not tokens:
        raise ConfigError(f"{dataroot}: split {split!r} has no samples")
    cfg = replace(cfg, on_missing="drop_sensor")
    return batches_of([load_sample(index, t, cfg) for t in tokens]), tokens


def export_onnx(
    model: FusionDetector,
    batches: Sequence[FusionBatch],
    out: str | Path,
    *,
    source: str,
    checkpoint: str | Path | None = None,
    opset: int = OPSET,
    attention: str = "mha",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export every graph of ``model`` (CPU, eval mode) into ``out``, checked on ``batches``; returns the manifest.

    ``attention``: ``mha`` writes the fuser's attention as ONNX Runtime's fused ``MultiHeadAttention``
    (com.microsoft), ``onnx`` in standard ONNX ops only (for other ONNX consumers, e.g. TensorRT's own parser).

    Raises:
        ExportCheckError: a graph, or the whole model through ONNX Runtime, differs from PyTorch beyond
            ``ATOL + RTOL * max|torch|`` (``out`` is left untouched).
        ConfigError: the batches never ran a graph (e.g. no sample had radar).
    """
    from sensorfuse.errors import ConfigError

    if attention not in ("mha", "onnx"):
        raise ConfigError(f"--attention {attention!r}: expected 'mha' or 'onnx'")
    model = model.eval()
    modules = graphs(model)
    recorder = TorchGraphs(modules, record=True)
    hook = Override(stage_functions(model, recorder))
    eager_heads = []
    with torch.inference_mode():
        for batch in batches:
            eager_heads.append(model.extract(batch)[0])
            model.extract(batch, stages=hook)
    unseen = [n for n in modules if n not in recorder.recorded]
    if unseen:
        raise ConfigError(
            f"export: the samples never ran graph(s) {unseen} (a sensor absent from every sample?); use samples "
            "that hold every sensor of the model"
        )
    digest = weights_digest(model)
    entries: dict[str, Any] = {}
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name, (spec, module) in modules.items():
            calls = recorder.recorded[name]
            path = tmp / f"{name}.onnx"
            written = _export_one(module, spec, calls[0], path, opset, attention)
            entries[name] = _check_graph(spec, module, calls, path)
            if written is not None:
                entries[name]["attention"] = written
        manifest = {
            "format": MANIFEST_FORMAT,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "exporter": "torch.onnx.export (TorchScript tracing, dynamo=False)",
            "opset": opset,
            "precision": "fp32",
            "versions": _versions(),
            "checkpoint": str(checkpoint) if checkpoint is not None else None,
            "weights_sha256": digest,
            "sensors": list(model.sensors),
            "fuser": type(model.fuser).__name__,
            "samples": {"source": source, "batch_sizes": [b.batch_size for b in batches],
                        "lidar_points": _points(batches, "lidar"), "radar_points": _points(batches, "radar")},
            "tolerance": {"atol": ATOL, "rtol": RTOL, "rule": "max|onnx - torch| <= atol + rtol * max|torch|"},
            "graphs": entries,
            "outside_the_graphs": ["voxelize", "pillar packing", "frustum geometry + bev_pool",
                                   "late-fusion stream combination", "decode (top-K + circle NMS)"],
        }  # fmt: skip
        atomic_write_json(tmp / "manifest.json", manifest, indent=2)
        manifest["end_to_end"] = _check_end_to_end(model, batches, eager_heads, tmp)
        atomic_write_json(tmp / "manifest.json", manifest, indent=2)
    log.info("exported %d graphs to %s", len(entries), out)
    return manifest


def _export_one(
    module: torch.nn.Module,
    spec: GraphSpec,
    example: dict[str, torch.Tensor],
    path: Path,
    opset: int,
    attention: str,
) -> str | None:
    """Export one graph; returns how its attention was written (None: it has none)."""
    args = tuple(example[k] for k in spec.inputs)
    dynamic = {k: dict(v) for k, v in spec.dynamic_axes.items()}
    heads = {m.heads for m in module.modules() if isinstance(m, WindowBlock)}
    mha = attention == "mha" and len(heads) == 1
    with warnings.catch_warnings(), torch.no_grad(), _sdpa_as_mha(heads.pop() if mha else None, opset):
        # the legacy exporter's deprecation notice, and tracer notes on Python-side shape arithmetic (the
        # grid and window sizes, fixed per model) and on the pillar net's training-only branch
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(path), input_names=list(spec.inputs), output_names=list(spec.outputs),
            dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False,
            custom_opsets={"com.microsoft": 1} if mha else None,
        )  # fmt: skip
    import onnx

    onnx.checker.check_model(str(path), full_check=not mha)  # the checker knows no contrib-op schemas
    if not any(isinstance(m, WindowBlock) for m in module.modules()):
        return None
    return "com.microsoft.MultiHeadAttention" if mha else "MatMul + Softmax (standard ONNX)"


@contextlib.contextmanager
def _sdpa_as_mha(heads: int | None, opset: int) -> Iterator[None]:
    """While exporting, write ``scaled_dot_product_attention`` as ONNX Runtime's fused ``MultiHeadAttention``
    (com.microsoft; its CPU and CUDA kernels), with the boolean key mask as its key padding mask.

    The standard export spells attention out as MatMul, Where(-inf), Softmax, IsNaN, Where, MatMul: on the
    small config's fuser that was 12 % of ONNX Runtime's time in Where alone. ``heads``: None = no change.
    """
    if heads is None:
        yield
        return
    from torch.onnx import register_custom_op_symbolic, unregister_custom_op_symbolic
    from torch.onnx._internal.torchscript_exporter import symbolic_helper as sh

    def symbolic(
        g: Any, query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: Any = 0.0,
        is_causal: Any = False, scale: Any = None, enable_gqa: Any = False,
    ) -> Any:  # fmt: skip
        if not sh._is_none(scale) or sh._maybe_get_const(is_causal, "b"):
            raise ExportCheckError("attention export: only the default scale and non-causal masks are mapped")

        def const(values: list[int]) -> Any:
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        def bsd(x: Any) -> Any:  # (B, heads, T, d) → (B, T, heads * d)
            return g.op("Reshape", g.op("Transpose", x, perm_i=[0, 2, 1, 3]), const([0, 0, -1]))

        ins = [bsd(query), bsd(key), bsd(value)]
        if not sh._is_none(attn_mask):  # (B, 1, 1, T) bool, True = attend → (B, T) int32, 1 = attend
            mask = g.op("Cast", g.op("Reshape", attn_mask, const([0, -1])), to_i=6)
            ins += [sh._optional_input_placeholder_tensor(g), mask]
        out = g.op("com.microsoft::MultiHeadAttention", *ins, num_heads_i=heads)
        return g.op("Transpose", g.op("Reshape", out, const([0, 0, heads, -1])), perm_i=[0, 2, 1, 3])

    register_custom_op_symbolic("aten::scaled_dot_product_attention", symbolic, opset)
    try:
        yield
    finally:
        unregister_custom_op_symbolic("aten::scaled_dot_product_attention", opset)


def _session(path: Path) -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _check_graph(
    spec: GraphSpec, module: torch.nn.Module, calls: list[dict[str, torch.Tensor]], path: Path
) -> dict[str, Any]:
    """Run every recorded call through the exported graph and PyTorch; the manifest entry of the graph."""
    session = _session(path)
    err = dict.fromkeys(spec.outputs, 0.0)
    ref_max = dict.fromkeys(spec.outputs, 0.0)
    with torch.inference_mode():
        for inputs in calls:
            ref = module(*(inputs[k] for k in spec.inputs))
            refs = ref if isinstance(ref, tuple) else (ref,)
            got = session.run(list(spec.outputs), {k: inputs[k].numpy() for k in spec.inputs})
            for name, r, g in zip(spec.outputs, refs, got, strict=True):
                if tuple(g.shape) != tuple(r.shape):
                    raise ExportCheckError(
                        f"{path}: output {name!r} has shape {tuple(g.shape)} in ONNX Runtime, "
                        f"{tuple(r.shape)} in PyTorch"
                    )
                r64, g64 = r.double(), torch.from_numpy(g).double()
                err[name] = max(err[name], float((r64 - g64).abs().max()) if r.numel() else 0.0)
                ref_max[name] = max(ref_max[name], float(r64.abs().max()) if r.numel() else 0.0)
    for name in spec.outputs:
        allowed = ATOL + RTOL * ref_max[name]
        if not err[name] <= allowed:
            raise ExportCheckError(
                f"{path}: output {name!r} differs from PyTorch by {err[name]:.3g} (max |torch| "
                f"{ref_max[name]:.3g}, allowed {allowed:.3g}) over {len(calls)} recorded call(s); not written"
            )
    return {
        "file": path.name,
        "stage": spec.stage,
        "inputs": _io(session.get_inputs()),
        "outputs": _io(session.get_outputs()),
        "dynamic_axes": {k: {str(a): s for a, s in v.items()} for k, v in spec.dynamic_axes.items()},
        "checked_calls": len(calls),
        "example_shapes": {k: list(calls[0][k].shape) for k in spec.inputs},
        "max_abs_error": err,
        "max_abs_torch": ref_max,
    }


def _check_end_to_end(
    model: FusionDetector, batches: Sequence[FusionBatch], eager: list[dict[str, torch.Tensor]], folder: Path
) -> dict[str, float]:
    """The whole model through ONNX Runtime vs eager: max abs error of the head maps (and heatmap scores)."""
    from sensorfuse.deploy.runtime import OrtGraphs, OrtOptions

    calls = OrtGraphs(folder, model, torch.device("cpu"), "onnxruntime", OrtOptions())
    hook = Override(stage_functions(model, calls))
    err: dict[str, float] = {}
    with torch.inference_mode():
        for batch, ref in zip(batches, eager, strict=True):
            got = model.extract(batch, stages=hook)[0]
            pairs = {**{k: (ref[k], got[k]) for k in ref},
                     "score": (ref["heatmap"].sigmoid(), got["heatmap"].sigmoid())}  # fmt: skip
            for k, (r, g) in pairs.items():
                err[k] = max(err.get(k, 0.0), float((r.double() - g.double()).abs().max()))
    return err


def _io(args: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"name": a.name, "type": a.type, "shape": list(a.shape)} for a in args]


def _points(batches: Sequence[FusionBatch], modality: str) -> list[int]:
    pts = [batch.lidar if modality == "lidar" else batch.radar for batch in batches]
    return [int(sum(len(p) for p in x)) if x is not None else 0 for x in pts]


def _versions() -> dict[str, str]:
    import platform

    import onnx
    import onnxruntime

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }
