"""The stage timer, re-exported: it lives in :mod:`sensorfuse.utils.timing` (below replay and the engine,
which use it too); ``sensorfuse.bench`` imports it from there, never the reverse."""

from sensorfuse.utils.timing import (
    END_TO_END,
    END_TO_END_NO_PRE,
    PERCENTILES,
    PREPROCESSING,
    STAGES,
    StageStats,
    StageTimer,
    TimingSummary,
    markdown_table,
    plot_stacked,
)

__all__ = [
    "END_TO_END",
    "END_TO_END_NO_PRE",
    "PERCENTILES",
    "PREPROCESSING",
    "STAGES",
    "StageStats",
    "StageTimer",
    "TimingSummary",
    "markdown_table",
    "plot_stacked",
]
