"""Sensors dropped during training, counted over every rank and every start of a run.

The data layer records each dropped sensor in ``SampleMeta.missing`` (see :mod:`sensorfuse.data.accounting`);
:class:`DropCount` counts a run's batches, merges the ranks' counts and checks them against the run's limit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sensorfuse.data.accounting import MissingTally
from sensorfuse.engine.distributed import DistInfo, all_gather_objects

#: samples a run must have seen before ``data.max_missing_fraction`` is checked during training (fewer say
#: too little to stop a run on); the end of the run checks whatever was seen
MIN_CHECK_SAMPLES = 20


class DropCount:
    """Sensors dropped by the data layer over a whole run: every rank, every start (``--resume``).

    Each rank counts the ``meta.missing`` of its own batches (:meth:`add`); :meth:`sync` is a collective
    (every rank calls it at the same steps) that merges the ranks' counts with the one restored from the
    checkpoint (:meth:`restore`) into :attr:`total`, the same on every rank.
    """

    def __init__(self, info: DistInfo) -> None:
        self.info = info
        self.restored = MissingTally()
        self.mine = MissingTally()
        self.total = MissingTally()

    def restore(self, data: Mapping[str, Any] | None) -> None:
        """Start from a checkpoint's count (None: a checkpoint from before counting, so zero)."""
        self.restored = MissingTally.from_dict(data or {})
        self.mine = MissingTally()
        self.total = MissingTally().merge(self.restored)

    def add(self, batch: Any) -> None:
        """Count a batch's samples (a ``FusionBatch``; batches without ``meta`` are not samples of ours)."""
        metas = getattr(batch, "meta", None)
        if isinstance(metas, list):
            self.mine.add_all(m for m in metas if isinstance(getattr(m, "missing", None), Mapping))

    def sync(self) -> MissingTally:
        """Merge every rank's count with the restored one into :attr:`total` (a collective)."""
        self.total = MissingTally().merge(self.restored).merge(gather_tally(self.mine, self.info))
        return self.total

    def sync_and_check(
        self, channels: Collection[str], max_fraction: float, where: str, final: bool
    ) -> MissingTally:
        """:meth:`sync`, then fail when one of ``channels`` (the model's) lost more than ``max_fraction`` of
        its samples — once :data:`MIN_CHECK_SAMPLES` were seen, or whatever was seen when ``final``.

        Raises:
            DataQualityError: from :meth:`MissingTally.check`, naming ``where`` and each sensor over the limit.
        """
        total = self.sync()
        checked = total.only(channels)
        if final or checked.frames >= MIN_CHECK_SAMPLES:
            checked.check(max_fraction, where)
        return total


def gather_tally(tally: MissingTally, info: DistInfo) -> MissingTally:
    """The sum of every rank's ``tally``, on every rank (a collective)."""
    merged = MissingTally()
    for part in all_gather_objects(tally.to_dict(), info):
        merged.merge(MissingTally.from_dict(part))
    return merged
