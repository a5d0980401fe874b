"""Runtimes: how the detector's network stages run — eager PyTorch, ``torch.compile`` or ONNX Runtime.

A :class:`Runtime` is a stage hook (:class:`sensorfuse.models.stages.Override`) that replaces the network stages
(:mod:`sensorfuse.deploy.graphs`) by their graphs run through a :data:`~sensorfuse.deploy.graphs.GraphCall`:

* ``eager`` — no replacement: ``predict`` as it is;
* ``compile`` — each graph's module under ``torch.compile`` (inductor; on the CPU it needs a C++ compiler);
* ``onnxruntime`` — one ``InferenceSession`` per exported graph (:mod:`sensorfuse.deploy.export`); the CPU
  execution provider on the CPU, the CUDA one on a GPU;
* ``tensorrt`` — ONNX Runtime with its TensorRT execution provider first (GPU only).

Voxelize, bev_pool and decode stay the project's kernels in every runtime. ``replay``, ``bench latency`` and
the :class:`~sensorfuse.engine.runner.ModelRunner` take a runtime by name; ``evaluate`` wraps its model with
:func:`wrap`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from torch import nn

from sensorfuse.data.config import SampleConfig
from sensorfuse.deploy import ORT_OPT_LEVELS, RUNTIMES
from sensorfuse.deploy.graphs import GraphSpec, graphs, stage_functions
from sensorfuse.errors import ConfigError
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.stages import EAGER, Chain, Override, StageHook
from sensorfuse.structures import Boxes3D, FusionBatch

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """A stage hook that runs the network stages in one runtime, and what to report about it.

    Attributes:
        name: one of :data:`RUNTIMES`.
        hook: the stage hook to pass to ``predict`` (:data:`~sensorfuse.models.stages.EAGER` for ``eager``).
        info: versions, precision, threads, providers: written into latency reports.
    """

    name: str
    hook: StageHook
    info: dict[str, Any]
    _cleanup: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the runtime closes (e.g. remove a folder of graphs it shares with another runtime)."""
        self._cleanup.append(fn)

    def close(self) -> None:
        """Free what the runtime holds (the temporary folder of graphs exported on the fly)."""
        while self._cleanup:
            self._cleanup.pop()()


@dataclass(frozen=True)
class OrtOptions:
    """ONNX Runtime session settings.

    Attributes:
        threads: intra-op threads (None: torch's thread count, so the runtimes compare at equal threads).
        opt_level: graph optimisation level, one of :data:`ORT_OPT_LEVELS`.
        spinning: whether idle intra-op threads spin (ORT's default) or sleep at once. Off by default: between
            the graphs, torch, Numba (voxelize, bev_pool) and decode run on the same cores, and spinning ORT
            threads slowed them (docs/deploy.md).
        providers: execution providers in order of preference (None: chosen from the device and runtime).
    """

    threads: int | None = None
    opt_level: str = "all"
    spinning: bool = False
    providers: tuple[str, ...] | None = None


#: The default ONNX Runtime settings.
DEFAULT_ORT: Final[OrtOptions] = OrtOptions()


def parse_runtimes(text: str) -> list[str]:
    """``"eager,compile"`` → names; ConfigError naming the bad one."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in RUNTIMES]
    if bad or not names:
        raise ConfigError(f"--runtime {text!r}: expected comma-separated names from {', '.join(RUNTIMES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--runtime {text!r}: a runtime is named twice")
    return names


def build_runtime(
    name: str,
    model: FusionDetector,
    sample_config: SampleConfig | None = None,
    *,
    onnx_dir: str | Path | None = None,
    ort: OrtOptions = DEFAULT_ORT,
) -> Runtime:
    """The runtime ``name`` for ``model`` (in eval mode, on its device).

    ``onnxruntime`` / ``tensorrt`` run the graphs of ``onnx_dir`` (``sensorfuse export onnx``; refused when they
    were exported from other weights); without one, the model is exported on the fly into a temporary folder,
    checked on synthetic samples made from ``sample_config``.
    """
    if name not in RUNTIMES:
        raise ConfigError(f"--runtime {name!r}: expected one of {', '.join(RUNTIMES)}")
    model.eval()
    device = next(model.parameters()).device
    info: dict[str, Any] = {
        "runtime": name,
        "precision": "fp32",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if name == "eager":
        return Runtime(name, EAGER, info)
    if name == "tensorrt" and device.type != "cuda":
        raise ConfigError("--runtime tensorrt: needs a CUDA device (--device cuda)")
    if name == "compile":
        info.update(_compile_info(device))
        return Runtime(name, Override(stage_functions(model, CompiledGraphs(graphs(model)))), info)
    return _ort_runtime(name, model, sample_config, device, onnx_dir, ort, info)


def _ort_runtime(
    name: str,
    model: FusionDetector,
    sample_config: SampleConfig | None,
    device: torch.device,
    onnx_dir: str | Path | None,
    ort: OrtOptions,
    info: dict[str, Any],
) -> Runtime:
    cleanup: list[Callable[[], None]] = []
    if onnx_dir is None:
        if sample_config is None:
            raise ConfigError(f"--runtime {name}: exporting on the fly needs the model's sample settings")
        onnx_dir, remove = temporary_export(model, sample_config)
        cleanup.append(remove)
        info["exported_on_the_fly"] = True
    calls = OrtGraphs(onnx_dir, model, device, name, ort)
    info.update(calls.info)
    return Runtime(name, Override(stage_functions(model, calls)), info, cleanup)


def temporary_export(model: FusionDetector, sample_config: SampleConfig) -> tuple[Path, Callable[[], None]]:
    """Export ``model`` (on the CPU, checked on synthetic samples) into a temporary folder: (folder, remove)."""
    from sensorfuse.deploy.export import export_onnx, synthetic_batches

    device = next(model.parameters()).device
    tmp = Path(tempfile.mkdtemp(prefix="sensorfuse-onnx-"))
    try:
        export_onnx(model.cpu(), synthetic_batches(sample_config), tmp / "graphs", source="synthetic")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        model.to(device)
    return tmp / "graphs", lambda: shutil.rmtree(tmp, ignore_errors=True)


def _compile_info(device: torch.device) -> dict[str, Any]:
    """Settings of the compile runtime; ConfigError at once where inductor cannot work (no C++ compiler)."""
    from torch._inductor import config as inductor_config

    cxx = None
    if device.type == "cpu":
        names = [c for c in (inductor_config.cpp.cxx or ()) if c] + ["g++", "c++", "clang++"]
        cxx = next((shutil.which(c) for c in names if shutil.which(c)), None)
        if cxx is None:
            raise ConfigError(
                "--runtime compile: torch.compile's CPU backend (inductor) needs a C++ compiler and none was "
                f"found (looked for {', '.join(dict.fromkeys(names))}); install g++ or use --runtime eager"
            )
    return {"compiler": "torch.compile (inductor, default mode)", "cxx": cxx}


class CompiledGraphs:
    """A :data:`~sensorfuse.deploy.graphs.GraphCall` running each graph's module under ``torch.compile``.

    Shapes that vary (pillars, batch) are recompiled once and then marked dynamic (torch's automatic dynamic
    shapes); warm up with two point counts before timing. A failing compilation raises :class:`ConfigError`.
    """

    def __init__(self, modules: Mapping[str, tuple[GraphSpec, nn.Module]]) -> None:
        self.specs = {n: spec for n, (spec, _) in modules.items()}
        self.compiled = {n: torch.compile(mod) for n, (_, mod) in modules.items()}

    def __call__(self, name: str, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        from torch._dynamo.exc import BackendCompilerFailed

        spec = self.specs[name]
        try:
            out = self.compiled[name](*(inputs[k] for k in spec.inputs))
        except BackendCompilerFailed as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"--runtime compile: torch.compile failed on graph {name!r} ({first}); on the CPU inductor "
                "needs a working C++ compiler (g++; or set CXX). Use --runtime eager or onnxruntime instead."
            ) from e
        return list(out) if isinstance(out, tuple) else [out]


# -- ONNX Runtime ------------------------------------------------------------------------------------------
_NP_DTYPES: Final[dict[torch.dtype, type]] = {
    torch.float32: np.float32, torch.int64: np.int64, torch.bool: np.bool_, torch.uint8: np.uint8,
}  # fmt: skip


def read_manifest(onnx_dir: str | Path) -> dict[str, Any]:
    """``DIR/manifest.json`` of an export; ConfigError naming the file when it is missing or not one."""
    path = Path(onnx_dir) / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: not found; export the model first (sensorfuse export onnx)") from e
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable manifest ({e})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("graphs"), dict):
        raise ConfigError(f"{path}: not a sensorfuse ONNX manifest (no 'graphs' table)")
    return manifest


def _providers(name: str, device: torch.device, ort: OrtOptions) -> list[Any]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if ort.providers is not None:
        wanted: list[Any] = list(ort.providers)
    elif device.type != "cuda":
        wanted = ["CPUExecutionProvider"]
    else:
        stream = str(torch.cuda.current_stream(device).cuda_stream)
        cuda = ("CUDAExecutionProvider", {"device_id": device.index or 0, "user_compute_stream": stream})
        wanted = [cuda, "CPUExecutionProvider"]
        if name == "tensorrt":
            trt = {"device_id": device.index or 0, "user_compute_stream": stream, "trt_fp16_enable": False}
            wanted.insert(0, ("TensorrtExecutionProvider", trt))
    first = wanted[0] if isinstance(wanted[0], str) else wanted[0][0]
    missing = [p if isinstance(p, str) else p[0] for p in wanted]
    missing = [p for p in missing if p not in available]
    if missing:
        raise ConfigError(
            f"--runtime {name}: ONNX Runtime {onnxruntime.__version__} here lacks {', '.join(missing)} "
            f"(has {', '.join(available)}); {first} needs the matching onnxruntime build (onnxruntime-gpu)"
        )
    return wanted


class OrtGraphs:
    """A :data:`~sensorfuse.deploy.graphs.GraphCall` over one ONNX Runtime session per exported graph.

    The graphs of ``onnx_dir`` must have been exported from ``model``'s weights (the manifest's weight digest);
    only the graphs ``model`` runs are loaded. On CUDA, inputs and outputs stay on the GPU (I/O binding on
    torch's stream).
    """

    def __init__(
        self, onnx_dir: str | Path, model: FusionDetector, device: torch.device, runtime: str, ort: OrtOptions
    ) -> None:
        import onnxruntime

        from sensorfuse.deploy.export import weights_digest

        self.dir = Path(onnx_dir)
        manifest = read_manifest(self.dir)
        digest = weights_digest(model)
        if manifest.get("weights_sha256") != digest:
            raise ConfigError(
                f"{self.dir / 'manifest.json'}: [weights_sha256] the graphs were exported from other weights "
                f"({str(manifest.get('weights_sha256'))[:12]}…, this model has {digest[:12]}…); export again"
            )
        self.specs = {n: spec for n, (spec, _) in graphs(model).items()}
        self.device = device
        opts = onnxruntime.SessionOptions()
        level = onnxruntime.GraphOptimizationLevel
        if ort.opt_level not in ORT_OPT_LEVELS:
            raise ConfigError(f"--ort-opt {ort.opt_level!r}: expected one of {', '.join(ORT_OPT_LEVELS)}")
        opts.graph_optimization_level = {
            "disable": level.ORT_DISABLE_ALL, "basic": level.ORT_ENABLE_BASIC,
            "extended": level.ORT_ENABLE_EXTENDED, "all": level.ORT_ENABLE_ALL,
        }[ort.opt_level]  # fmt: skip
        threads = ort.threads if ort.threads is not None else torch.get_num_threads()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if ort.spinning else "0")
        opts.log_severity_level = 3  # warnings about shape hints of data-dependent outputs are expected
        providers = _providers(runtime, device, ort)
        self.sessions = {}
        for name in self.specs:
            entry = manifest["graphs"].get(name)
            if entry is None:
                raise ConfigError(f"{self.dir / 'manifest.json'}: [graphs] has no {name!r}; export again")
            self.sessions[name] = onnxruntime.InferenceSession(
                str(self.dir / entry["file"]), opts, providers=providers
            )
        used = next(iter(self.sessions.values())).get_providers()
        self.info = {
            "onnxruntime": onnxruntime.__version__,
            "providers": used,
            "intra_op_threads": threads,
            "graph_optimization_level": ort.opt_level,
            "spinning": ort.spinning,
            "opset": manifest.get("opset"),
            "onnx_dir": str(self.dir),
            "export_max_abs_error": {n: g.get("max_abs_error") for n, g in manifest["graphs"].items()},
        }

    def __call__(self, name: str, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        spec, session = self.specs[name], self.sessions[name]
        if self.device.type == "cuda":
            return self._run_bound(spec, session, inputs)
        feed = {k: inputs[k].detach().cpu().numpy() for k in spec.inputs}
        return [torch.from_numpy(o) for o in session.run(list(spec.outputs), feed)]

    def _run_bound(
        self, spec: GraphSpec, session: Any, inputs: Mapping[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """CUDA: bind torch's device buffers as inputs, keep outputs on the device (DLPack where available)."""
        binding = session.io_binding()
        held = []
        index = self.device.index or 0
        for k in spec.inputs:
            t = inputs[k].detach().to(self.device).contiguous()
            held.append(t)
            binding.bind_input(k, "cuda", index, _NP_DTYPES[t.dtype], tuple(t.shape), t.data_ptr())
        for k in spec.outputs:
            binding.bind_output(k, "cuda", index)
        session.run_with_iobinding(binding)
        outs = []
        for v in binding.get_outputs():
            try:
                outs.append(torch.from_dlpack(v.to_dlpack()))
            except (AttributeError, RuntimeError):  # a build without DLPack: through the host
                outs.append(torch.from_numpy(v.numpy()).to(self.device))
        return outs


# -- a model that predicts through a runtime (evaluate) -------------------------------------------------------
class RuntimeModel:
    """A detector whose ``predict`` runs through a :class:`Runtime`: ``eval()``, ``sensors``, ``predict``.

    What ``sensorfuse evaluate`` needs of its model, so a runtime is one line there::

        model = wrap(model, "onnxruntime", cfg.data.sample)
    """

    def __init__(self, model: FusionDetector, runtime: Runtime) -> None:
        self.model, self.runtime = model, runtime

    @property
    def sensors(self) -> tuple[str, ...]:
        return self.model.sensors

    def eval(self) -> RuntimeModel:
        self.model.eval()
        return self

    def predict(
        self, batch: FusionBatch, sensors: Iterable[str] | None = None, stages: StageHook = EAGER
    ) -> list[Boxes3D]:
        """``model.predict`` with the network stages in the runtime (``stages`` runs around it, e.g. a timer)."""
        hook = self.runtime.hook if stages is EAGER else Chain(stages, self.runtime.hook)
        return self.model.predict(batch, sensors, hook)


def wrap(
    model: FusionDetector,
    runtime: str,
    sample_config: SampleConfig | None = None,
    *,
    onnx_dir: str | Path | None = None,
    ort: OrtOptions = DEFAULT_ORT,
) -> RuntimeModel:
    """``model`` predicting through ``runtime`` (see :func:`build_runtime`)."""
    return RuntimeModel(model, build_runtime(runtime, model, sample_config, onnx_dir=onnx_dir, ort=ort))
