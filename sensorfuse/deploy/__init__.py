"""Deployment: per-stage ONNX export and the runtimes the model can run through (eager, compile, ONNX Runtime).

``sensorfuse export onnx`` (:mod:`sensorfuse.deploy.export`) writes one ONNX graph per network stage
(:mod:`sensorfuse.deploy.graphs`); :func:`sensorfuse.deploy.runtime.build_runtime` makes a stage hook that runs
the network stages through ``torch.compile`` or ONNX Runtime sessions, used by ``replay``, ``bench latency`` and
(through :func:`sensorfuse.deploy.runtime.wrap`) ``evaluate``. See docs/deploy.md.
"""

from typing import Final

#: The runtime names ``--runtime`` accepts (:mod:`sensorfuse.deploy.runtime`).
RUNTIMES: Final[tuple[str, ...]] = ("eager", "compile", "onnxruntime", "tensorrt")
#: ``--ort-opt`` → ONNX Runtime's graph optimisation level.
ORT_OPT_LEVELS: Final[tuple[str, ...]] = ("disable", "basic", "extended", "all")
