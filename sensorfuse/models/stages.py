"""The detector's named stages and the hook that runs them.

:class:`~sensorfuse.models.detector.FusionDetector` composes its stages once (``extract`` + ``decode`` in
``predict``) and hands every stage to a :class:`StageHook`::

    feats["lidar"] = stages.run("lidar_encoder", self.encode_points, "lidar", voxels)

The default hook, :data:`EAGER`, just calls the stage. Other hooks wrap the same call: the timer
(:class:`sensorfuse.utils.timing.StageTimer` runs it under ``timer.stage(name)``), :class:`ProfilerRanges`
(named ranges in ``torch.profiler`` traces), :class:`Override` (runs a replacement for some stages: the deployment
runtimes of :mod:`sensorfuse.deploy`), and :class:`Chain` of two hooks (a timer around a runtime).
Because every user — ``predict``, the latency benchmark, the model summary, replay — goes through this one
composition, their outputs are the same; ``tests/models/test_stages.py`` checks it bit for bit.

Stage names are those of the latency report (:data:`sensorfuse.utils.timing.STAGES`): :data:`MODEL_STAGES`
are the ones the model runs, in pipeline order (``voxelize`` runs once per point modality and accumulates).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, ParamSpec, Protocol, TypeVar

from sensorfuse.utils.timing import STAGES

P = ParamSpec("P")
R = TypeVar("R")

#: The detector's stages, in pipeline order (a subset of the timer's ``STAGES``, which add ``load``/``sync``).
MODEL_STAGES: Final[tuple[str, ...]] = tuple(s for s in STAGES if s not in ("load", "sync"))


#: The network stages (after ``voxelize``, before ``postprocess``): what the deployment runtimes replace.
NETWORK_STAGES: Final[tuple[str, ...]] = tuple(
    s for s in MODEL_STAGES if s not in ("voxelize", "postprocess")
)


class StageHook(Protocol):
    """Runs one named stage of the detector: must return ``fn(*args, **kwargs)`` (or an equal result)."""

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


class Eager:
    """The default hook: calls the stage and nothing else (no timing, no allocation)."""

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)


#: The hook ``predict`` and ``forward`` use unless told otherwise.
EAGER: Final[Eager] = Eager()


class ProfilerRanges:
    """A hook that marks each stage as a named range (``torch.profiler.record_function``) in profiler traces."""

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        with torch.profiler.record_function(name):
            return fn(*args, **kwargs)


class Chain:
    """Two hooks as one: ``outer`` runs around ``inner`` (e.g. a timer around a runtime that replaces stages).

    ``Chain(timer, runtime).run(name, fn, *args)`` times ``runtime.run(name, fn, *args)`` as stage ``name``.
    """

    def __init__(self, outer: StageHook, inner: StageHook) -> None:
        self.outer, self.inner = outer, inner

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        inner: Callable[..., R] = functools.partial(self.inner.run, name, fn)
        return self.outer.run(name, inner, *args, **kwargs)


class Override:
    """A hook that runs a replacement for some stages: ``stages[name](*args)`` instead of ``fn(*args)``.

    Each replacement takes the stage method's own arguments and returns what it returns (the deployment
    runtimes of :mod:`sensorfuse.deploy` run the network stages through ONNX Runtime or ``torch.compile`` this
    way, so the composition stays the one in :meth:`~sensorfuse.models.detector.FusionDetector.extract`).
    Stages without a replacement run as they are.
    """

    def __init__(self, stages: Mapping[str, Callable[..., Any]]) -> None:
        unknown = sorted(set(stages) - set(MODEL_STAGES))
        if unknown:
            raise ValueError(f"Override: unknown stages {unknown}; expected names from {MODEL_STAGES}")
        self.stages = dict(stages)

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        replacement = self.stages.get(name)
        if replacement is None:
            return fn(*args, **kwargs)
        out: R = replacement(*args, **kwargs)
        return out
