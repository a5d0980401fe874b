"""The detector's named stages and the hook that runs them.

:class:`~sensorfuse.models.detector.FusionDetector` composes its stages once (``extract`` + ``decode`` in
``predict``) and hands every stage to a :class:`StageHook`::

    feats["lidar"] = stages.run("lidar_encoder", self.encode_points, "lidar", voxels)

The default hook, :data:`EAGER`, just calls the stage. Other hooks wrap the same call: the timer
(:class:`sensorfuse.utils.timing.StageTimer` runs it under ``timer.stage(name)``), :class:`ProfilerRanges`
(named ranges in ``torch.profiler`` traces), or a recorder that captures each stage's inputs (per-stage export).
Because every user — ``predict``, the latency benchmark, the model summary, replay — goes through this one
composition, their outputs are the same; ``tests/models/test_stages.py`` checks it bit for bit.

Stage names are those of the latency report (:data:`sensorfuse.utils.timing.STAGES`): :data:`MODEL_STAGES`
are the ones the model runs, in pipeline order (``voxelize`` runs once per point modality and accumulates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: The detector's stages, in pipeline order (a subset of the timer's ``STAGES``, which add ``load``/``sync``).
MODEL_STAGES: Final[tuple[str, ...]] = (
    "voxelize",
    "lidar_encoder",
    "camera_encoder",
    "view_transform",
    "radar_encoder",
    "fuser",
    "head",
    "postprocess",
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
