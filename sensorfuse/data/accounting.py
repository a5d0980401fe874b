"""Accounting of dropped sensors: nothing is skipped without being counted, reported and checked.

With ``on_missing="drop_sensor"`` a sensor that cannot be loaded is left out of its sample and recorded in
``SampleMeta.missing[channel]`` as ``"<reason>: <detail>"`` (:func:`missing_entry`; the reason is the
:class:`~sensorfuse.errors.DataError`'s ``reason``). A :class:`MissingTally` counts those entries per channel
and reason over a run (train, evaluate, replay), merges across DataLoader batches and torchrun ranks, renders
them for logs and reports, and fails the run when a sensor loses more than the allowed share of its frames
(:meth:`MissingTally.check`).

Sensors removed on purpose (a robustness scenario, ``--sensors``) carry the reason :data:`INTENDED`: they are
counted and reported but never fail a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sensorfuse.errors import DataError, DataQualityError

log = logging.getLogger(__name__)

#: Reason of a sensor removed on purpose (scenario, sensor subset): reported, never a data fault.
INTENDED = "not used"


def missing_entry(reason: str, detail: str | Exception) -> str:
    """The ``SampleMeta.missing`` value for a sensor dropped for ``reason`` (``"<reason>: <detail>"``)."""
    return f"{reason}: {detail}"


def missing_from_error(e: DataError) -> str:
    """The ``SampleMeta.missing`` value for a sensor whose loader raised ``e``."""
    return missing_entry(e.reason, e)


def reason_of(entry: str) -> str:
    """The reason part of a ``SampleMeta.missing`` value (the text before the first ``:``)."""
    return entry.split(":", 1)[0].strip() or "bad data"


@dataclass
class MissingTally:
    """Counts of dropped sensors over a run.

    Attributes:
        frames: samples seen.
        counts: channel → reason → number of samples in which the channel was dropped for that reason.
        examples: channel → the first full ``missing`` entry seen for it (file and problem), for reports.
    """

    frames: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, missing: Mapping[str, str]) -> None:
        """Count one sample's ``meta.missing``."""
        self.frames += 1
        for channel, entry in missing.items():
            per = self.counts.setdefault(channel, {})
            reason = reason_of(entry)
            per[reason] = per.get(reason, 0) + 1
            self.examples.setdefault(channel, entry)

    def add_all(self, metas: Iterable[Any]) -> None:
        """Count every ``SampleMeta`` (anything with a ``missing`` mapping) of a batch."""
        for meta in metas:
            self.add(meta.missing)

    def merge(self, other: MissingTally) -> MissingTally:
        """Add ``other``'s counts into this tally (another rank's, another epoch's); returns self."""
        self.frames += other.frames
        for channel, per in other.counts.items():
            mine = self.counts.setdefault(channel, {})
            for reason, n in per.items():
                mine[reason] = mine.get(reason, 0) + n
        for channel, entry in other.examples.items():
            self.examples.setdefault(channel, entry)
        return self

    def only(self, channels: Iterable[str]) -> MissingTally:
        """The part of this tally about ``channels`` (e.g. the sensors a model reads), same sample count."""
        keep = set(channels)
        return MissingTally(
            frames=self.frames,
            counts={c: dict(per) for c, per in self.counts.items() if c in keep},
            examples={c: e for c, e in self.examples.items() if c in keep},
        )

    def dropped(self, channel: str, include_intended: bool = False) -> int:
        """Samples in which ``channel`` was dropped (by data faults only, unless ``include_intended``)."""
        per = self.counts.get(channel, {})
        return sum(n for r, n in per.items() if include_intended or r != INTENDED)

    def fraction(self, channel: str) -> float:
        """Share of the samples seen in which ``channel`` was dropped by a data fault."""
        return self.dropped(channel) / self.frames if self.frames else 0.0

    @property
    def total_dropped(self) -> int:
        """Sensor drops by data faults, over all channels and samples."""
        return sum(self.dropped(c) for c in self.counts)

    def over(self, max_fraction: float) -> dict[str, float]:
        """Channels whose fault share exceeds ``max_fraction`` → their share."""
        return {c: self.fraction(c) for c in sorted(self.counts) if self.fraction(c) > max_fraction}

    def check(self, max_fraction: float, where: str) -> None:
        """Fail when a channel lost more than ``max_fraction`` of its samples to data faults.

        Raises:
            DataQualityError: naming ``where`` (the run or dataset), each channel over the limit with its
                counts per reason and an example, and how to allow it.
        """
        bad = self.over(max_fraction)
        if not bad:
            return
        lines = [
            f"  {c}: {self.dropped(c)} of {self.frames} samples ({100 * f:.1f}%) — "
            + ", ".join(f"{r} {n}" for r, n in sorted(self.counts[c].items()) if r != INTENDED)
            + f"; e.g. {self.examples.get(c, '')}"
            for c, f in bad.items()
        ]
        raise DataQualityError(
            f"{where}: more than {100 * max_fraction:g}% of a sensor's samples were dropped:\n"
            + "\n".join(lines)
            + "\n(raise the limit with data.max_missing_fraction / --max-missing 1.0 to run anyway)"
        )

    def present(self, channels: Sequence[str]) -> bool:
        """Whether any of ``channels`` was present (not dropped, for any reason) in at least one sample."""
        return self.frames > 0 and any(self.dropped(c, include_intended=True) < self.frames for c in channels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also what ranks exchange)."""
        return {"frames": self.frames, "counts": self.counts, "examples": self.examples}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MissingTally:
        return cls(
            frames=int(d.get("frames", 0)),
            counts={
                str(c): {str(r): int(n) for r, n in per.items()} for c, per in d.get("counts", {}).items()
            },
            examples={str(c): str(e) for c, e in d.get("examples", {}).items()},
        )

    def format_markdown(self) -> str:
        """A Markdown table: one row per (channel, reason) with count and share, or a line saying none."""
        if not self.counts:
            return f"No sensor was dropped ({self.frames} samples).\n"
        rows = ["| sensor | reason | samples | share | example |", "|---|---|---|---|---|"]
        for c in sorted(self.counts):
            for r, n in sorted(self.counts[c].items()):
                share = f"{100 * n / self.frames:.1f}%" if self.frames else "n/a"
                example = self.examples.get(c, "").replace("|", "\\|")
                rows.append(f"| {c} | {r} | {n} | {share} | {example[:160]} |")
        return f"Sensors dropped over {self.frames} samples:\n\n" + "\n".join(rows) + "\n"

    def summary_line(self) -> str:
        """One line for logs: ``dropped: LIDAR_TOP 3 (truncated 2, missing file 1); ...``."""
        if not self.counts:
            return f"no sensor dropped in {self.frames} samples"
        parts = [
            f"{c} {sum(per.values())} ({', '.join(f'{r} {n}' for r, n in sorted(per.items()))})"
            for c, per in sorted(self.counts.items())
        ]
        return f"dropped in {self.frames} samples: " + "; ".join(parts)

    def log(self, logger: logging.Logger = log) -> None:
        """Warn (when a data fault dropped anything) or inform with :meth:`summary_line`."""
        level = logging.WARNING if self.total_dropped else logging.INFO
        logger.log(level, "%s", self.summary_line())
