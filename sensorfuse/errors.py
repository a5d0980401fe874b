"""Errors for people: every error names the file or token, the field, and what was expected."""

from __future__ import annotations

from pathlib import Path


class SensorfuseError(Exception):
    """Base class of all errors sensorfuse raises on bad input."""


class DataError(SensorfuseError):
    """Bad or missing input data.

    Args:
        where: the file path or record token at fault.
        problem: what is wrong, and what was expected.
        field: the field or column at fault, if one.
        reason: a short category used when a dropped sensor is counted (``missing file``, ``truncated``,
            ``corrupt``, ``implausible``, ``stale``, ``no keyframe``, ``broken chain``, ...); the counts per
            sensor and reason are reported by :class:`sensorfuse.data.accounting.MissingTally`.
    """

    def __init__(
        self, where: str | Path, problem: str, field: str | None = None, *, reason: str = "bad data"
    ) -> None:
        self.where = str(where)
        self.field = field
        self.problem = problem
        self.reason = reason
        loc = f"{self.where}" + (f" [{field}]" if field else "")
        super().__init__(f"{loc}: {problem}")


class DataQualityError(SensorfuseError):
    """Too much of a run's input was dropped (more than the allowed share of a sensor's frames)."""


class ConfigError(SensorfuseError):
    """Bad configuration value or parameter (CLI, YAML, rig file)."""
