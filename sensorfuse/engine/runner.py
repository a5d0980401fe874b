"""The model runner: a detector in eval mode on a device, predicting one sample at a time, stages timed.

Replay and the latency benchmark run the model through :class:`ModelRunner`. It calls
:meth:`FusionDetector.predict <sensorfuse.models.detector.FusionDetector.predict>` with the timer as the stage
hook (:mod:`sensorfuse.models.stages`), so what they time is the code ``predict`` — and ``sensorfuse evaluate``
— runs, not a copy of its stage order. Only ``load`` (collate + copy to the device) is added here.

The network stages run in a runtime (:mod:`sensorfuse.deploy.runtime`: ``eager``, ``compile``, ``onnxruntime``,
``tensorrt``), a stage hook of its own that the timer wraps (:class:`~sensorfuse.models.stages.Chain`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from sensorfuse.data.config import SampleConfig
from sensorfuse.deploy.runtime import DEFAULT_ORT, OrtOptions, Runtime, build_runtime
from sensorfuse.errors import ConfigError
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.fake import synthetic_sample
from sensorfuse.models.stages import EAGER, Chain, StageHook
from sensorfuse.structures import Boxes3D, FusionBatch, SensorSample, collate
from sensorfuse.utils.timing import StageTimer


class ModelRunner:
    """A detector (eval mode, on ``device``) and the sample settings its inputs are loaded with.

    Args:
        model: the detector.
        sample_config: how its inputs are loaded (image size, sweeps) — from the training config.
        device: ``cpu`` / ``cuda`` / ``cuda:N``.
        sensors: the modalities to use (default: all the model has).
        runtime: the runtime of the network stages (a name of :data:`~sensorfuse.deploy.runtime.RUNTIMES`).
        onnx_dir: exported graphs for ``onnxruntime`` / ``tensorrt`` (default: exported on the fly).
        ort: ONNX Runtime session settings.
    """

    def __init__(
        self,
        model: FusionDetector,
        sample_config: SampleConfig,
        device: str = "cpu",
        sensors: Iterable[str] | None = None,
        runtime: str = "eager",
        onnx_dir: str | Path | None = None,
        ort: OrtOptions = DEFAULT_ORT,
    ) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})"
            )
        self.device = device
        self.model = model.to(device).eval()
        self.sample_config = sample_config
        self.sensors = tuple(sensors) if sensors is not None else tuple(model.sensors)
        self.runtime: Runtime = build_runtime(runtime, self.model, sample_config, onnx_dir=onnx_dir, ort=ort)

    @staticmethod
    def from_checkpoint(
        path: str | Path,
        device: str = "cpu",
        sensors: Iterable[str] | None = None,
        runtime: str = "eager",
        onnx_dir: str | Path | None = None,
        ort: OrtOptions = DEFAULT_ORT,
    ) -> ModelRunner:
        """Load a training checkpoint (``weights_only=True``) with its sample settings."""
        from sensorfuse.engine.evaluate import load_model

        model, cfg = load_model(path, torch.device("cpu"))
        return ModelRunner(model, cfg.data.sample, device, sensors, runtime, onnx_dir, ort)

    def predict_batch(self, batch: FusionBatch, stages: StageHook = EAGER) -> list[Boxes3D]:
        """``model.predict`` on ``batch`` (already on the device) with :attr:`sensors`, each stage run through
        ``stages`` around the runtime; a batch holding none of the sensors gets empty boxes (replay keeps going,
        :meth:`FusionDetector.predict`).
        """
        hook = self.runtime.hook
        if stages is not EAGER:
            hook = stages if hook is EAGER else Chain(stages, hook)
        with torch.inference_mode():
            return self.model.predict(batch, self.sensors, hook)

    def predict_sample(self, sample: SensorSample, timer: StageTimer) -> Boxes3D:
        """One sample: collate + copy to the device (timed as ``load``), then the model's stages under ``timer``."""
        with timer.stage("load"):
            batch = collate([sample]).to(self.device)
        return self.predict_batch(batch, timer)[0]

    def warmup(self, frames: int = 1) -> None:
        """Untimed predictions on synthetic samples (JIT compilation, allocator and cuDNN warm-up).

        Point counts differ from frame to frame; the ``compile`` runtime gets at least three frames, so the
        pillar axis has been recompiled as dynamic before anything is timed.
        """
        if self.runtime.name == "compile":
            frames = max(frames, 3)
        for i in range(frames):
            sample = synthetic_sample(self.sample_config, n_lidar=20_000 + 2_000 * i, n_radar=60 + 20 * i)
            self.predict_batch(collate([sample]).to(self.device))

    def close(self) -> None:
        """Free what the runtime holds (graphs exported on the fly)."""
        self.runtime.close()
