"""Per-stage timing of the fusion pipeline, shared by replay, the latency benchmark and the model summary.

A :class:`StageTimer` measures named stages inside frames::

    timer = StageTimer(device="cpu")
    with timer.frame():
        with timer.stage("load"):
            sample = load(...)
        with timer.stage("lidar_encoder"):
            ...
    summary = timer.summary()          # p50/p90/p99/mean per stage and end to end, in ms

It is also a stage hook of the detector (:class:`sensorfuse.models.stages.StageHook`): ``model.predict(batch,
stages=timer)`` runs each of the model's stages through :meth:`StageTimer.run`, i.e. under ``timer.stage(name)``.

On the CPU each stage is timed with ``time.perf_counter_ns``. On CUDA each stage boundary records a
``torch.cuda.Event`` on the current stream and the frame end synchronises once, so stage times are GPU-timeline
times of the work queued between the boundaries (host-only stages such as ``load`` are covered too, because the
events are recorded in program order). The frame's end-to-end time is always also measured on the host clock
(after a ``torch.cuda.synchronize`` on CUDA), together with the process CPU time of the frame (all threads;
a figure that does not grow when other jobs compete for a shared machine's cores).

Frames are contiguous sequences of stages, so the stage times of a frame add up to its end-to-end time, minus
the (tiny) bookkeeping between stages; ``tests/bench/test_timing.py`` checks this.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import numpy as np

from sensorfuse.errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

#: The named stages of the pipeline, in pipeline order.
STAGES: Final[tuple[str, ...]] = (
    "load",
    "sync",
    "voxelize",
    "lidar_encoder",
    "camera_encoder",
    "view_transform",
    "radar_encoder",
    "fuser",
    "head",
    "postprocess",
)
#: Stages counted as pre-processing (BEVFusion's published FPS excludes voxelization; we report both).
PREPROCESSING: Final[frozenset[str]] = frozenset({"load", "sync", "voxelize"})
#: Name of the end-to-end row of a summary (all stages of a frame).
END_TO_END: Final[str] = "end_to_end"
#: Name of the end-to-end row without pre-processing (:data:`PREPROCESSING` stages subtracted).
END_TO_END_NO_PRE: Final[str] = "end_to_end_no_preprocessing"
PERCENTILES: Final[tuple[int, ...]] = (50, 90, 99)


@dataclass(frozen=True)
class StageStats:
    """Statistics of one stage over the frames in which it ran, in milliseconds.

    ``mean_per_frame`` divides the total by *all* frames of the run (0 for frames without the stage), so the
    ``mean_per_frame`` of the stages add up to the mean end-to-end time (used by the stacked-bar plot).
    """

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float
    mean_per_frame: float

    @staticmethod
    def of(values_ms: Sequence[float], n_frames: int) -> StageStats:
        v = np.asarray(values_ms, dtype=np.float64)
        if v.size == 0:
            return StageStats(0, *(float("nan"),) * 6, mean_per_frame=0.0)
        p50, p90, p99 = (float(x) for x in np.percentile(v, PERCENTILES))
        return StageStats(
            n=int(v.size),
            p50=p50,
            p90=p90,
            p99=p99,
            mean=float(v.mean()),
            min=float(v.min()),
            max=float(v.max()),
            mean_per_frame=float(v.sum() / max(n_frames, 1)),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            k: getattr(self, k) for k in ("n", "p50", "p90", "p99", "mean", "min", "max", "mean_per_frame")
        }


@dataclass
class TimingSummary:
    """Per-stage and end-to-end statistics of one run (one config / sensor subset)."""

    n_frames: int
    stages: dict[str, StageStats]
    end_to_end: StageStats
    end_to_end_no_preprocessing: StageStats
    cpu_time: StageStats
    device: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stage_sum_mean_ms(self) -> float:
        """Mean per frame of the sum of all stages (≈ the end-to-end mean; the rest is glue between stages)."""
        return float(sum(s.mean_per_frame for s in self.stages.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_frames": self.n_frames,
            "device": self.device,
            "units": "ms",
            "stages": {k: v.as_dict() for k, v in self.stages.items()},
            END_TO_END: self.end_to_end.as_dict(),
            END_TO_END_NO_PRE: self.end_to_end_no_preprocessing.as_dict(),
            "process_cpu_time": self.cpu_time.as_dict(),
            "stage_sum_mean_ms": self.stage_sum_mean_ms,
            "unattributed_mean_ms": self.end_to_end.mean - self.stage_sum_mean_ms if self.n_frames else 0.0,
            "meta": dict(self.meta),
        }


class StageTimer:
    """Times named stages inside frames on the CPU (``perf_counter_ns``) or CUDA (``torch.cuda.Event``).

    Args:
        device: ``"cpu"`` or ``"cuda"`` (any ``cuda:N``).
        stages: the allowed stage names (default :data:`STAGES`); unknown names raise :class:`ConfigError`.
    """

    def __init__(self, device: str = "cpu", stages: Sequence[str] = STAGES) -> None:
        self.device = str(device)
        self.cuda = self.device.startswith("cuda")
        self.allowed = tuple(stages)
        self.frames: list[dict[str, float]] = []
        self.totals_ms: list[float] = []
        self.cpu_ms: list[float] = []  # process CPU time per frame, all threads (contention-independent)
        self._open: dict[str, float] | None = None
        self._events: list[tuple[str, Any, Any]] = []

    # -- recording -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def frame(self) -> Iterator[dict[str, float]]:
        """One frame; yields its (ms) stage dict, filled as stages finish. Frames do not nest."""
        if self._open is not None:
            raise RuntimeError("StageTimer.frame() does not nest")
        self._open, self._events = {}, []
        self._sync()
        t0, c0 = time.perf_counter_ns(), time.process_time_ns()
        try:
            yield self._open
        except BaseException:
            self._open = None
            raise
        self._sync()
        total_ms = (time.perf_counter_ns() - t0) / 1e6
        self.cpu_ms.append((time.process_time_ns() - c0) / 1e6)
        for name, start, end in self._events:
            self._open[name] = self._open.get(name, 0.0) + float(start.elapsed_time(end))
        self.frames.append(self._open)
        self.totals_ms.append(total_ms)
        self._open = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage of the open frame (a stage entered twice in a frame accumulates)."""
        if name not in self.allowed:
            raise ConfigError(f"unknown timing stage {name!r}; expected one of {', '.join(self.allowed)}")
        if self._open is None:
            yield  # outside a frame: not timed (e.g. warm-up code paths that skip frame())
            return
        if self.cuda:
            import torch

            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self._events.append((name, start, end))
            return
        t0 = time.perf_counter_ns()
        yield
        self._open[name] = self._open.get(name, 0.0) + (time.perf_counter_ns() - t0) / 1e6

    def run(self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` timed as stage ``name`` (the detector's stage hook)."""
        with self.stage(name):
            return fn(*args, **kwargs)

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def reset(self) -> None:
        """Forget recorded frames (call after warm-up)."""
        self.frames.clear()
        self.totals_ms.clear()
        self.cpu_ms.clear()

    # -- summarising -----------------------------------------------------------------------------------------
    def summary(self, meta: Mapping[str, Any] | None = None) -> TimingSummary:
        n = len(self.frames)
        names = [s for s in self.allowed if any(s in f for f in self.frames)]
        stages = {s: StageStats.of([f[s] for f in self.frames if s in f], n) for s in names}
        pre = [sum(v for k, v in f.items() if k in PREPROCESSING) for f in self.frames]
        no_pre = [t - p for t, p in zip(self.totals_ms, pre, strict=True)]
        return TimingSummary(
            n_frames=n,
            stages=stages,
            end_to_end=StageStats.of(self.totals_ms, n),
            end_to_end_no_preprocessing=StageStats.of(no_pre, n),
            cpu_time=StageStats.of(self.cpu_ms, n),
            device=self.device,
            meta=dict(meta or {}),
        )


def markdown_table(summaries: Mapping[str, TimingSummary]) -> str:
    """A Markdown table: one row per stage (+ end to end), p50/p90/p99/mean ms per run label."""
    labels = list(summaries)
    names = [s for s in STAGES if any(s in t.stages for t in summaries.values())]
    head = "| stage | " + " | ".join(f"{lab} p50 / p90 / p99 / mean (ms)" for lab in labels) + " |"
    lines = [head, "|---|" + "---|" * len(labels)]

    def cell(st: StageStats | None) -> str:
        if st is None or st.n == 0:
            return "–"
        return f"{st.p50:.2f} / {st.p90:.2f} / {st.p99:.2f} / {st.mean:.2f}"

    for s in names:
        lines.append(f"| {s} | " + " | ".join(cell(summaries[lab].stages.get(s)) for lab in labels) + " |")
    lines.append(
        "| **end to end (incl. pre-processing)** | "
        + " | ".join(cell(summaries[lab].end_to_end) for lab in labels)
        + " |"
    )
    lines.append(
        "| **end to end without load/sync/voxelize** | "
        + " | ".join(cell(summaries[lab].end_to_end_no_preprocessing) for lab in labels)
        + " |"
    )
    lines.append(
        "| process CPU time per frame (all threads) | "
        + " | ".join(cell(summaries[lab].cpu_time) for lab in labels)
        + " |"
    )
    glue = [
        f"{t.stage_sum_mean_ms:.2f} / {t.end_to_end.mean - t.stage_sum_mean_ms:.2f}"
        for t in summaries.values()
    ]
    lines.append("| sum of stages (mean) / unattributed glue | " + " | ".join(glue) + " |")
    lines.append("| frames | " + " | ".join(str(summaries[lab].n_frames) for lab in labels) + " |")
    return "\n".join(lines) + "\n"


def plot_stacked(summaries: Mapping[str, TimingSummary], path: str | Path, title: str = "") -> None:
    """Stacked bars of the mean time per frame of each stage, one bar per run label; written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sensorfuse.utils.atomic import atomic_write_bytes

    labels = list(summaries)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(labels) + 3), 4.5))
    bottom = np.zeros(len(labels))
    cmap = plt.get_cmap("tab10")
    for i, s in enumerate(STAGES):
        vals = np.array(
            [summaries[lab].stages[s].mean_per_frame if s in summaries[lab].stages else 0.0 for lab in labels]
        )
        if not vals.any():
            continue
        ax.bar(labels, vals, bottom=bottom, label=s, color=cmap(i % 10))
        bottom += vals
    totals = [summaries[lab].end_to_end.mean for lab in labels]
    ax.scatter(labels, totals, marker="_", s=600, color="black", zorder=3, label="end to end (mean)")
    ax.set_ylabel("ms per frame (mean)")
    ax.set_title(title or "per-stage latency")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
