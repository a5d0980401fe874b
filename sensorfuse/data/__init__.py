"""Samples from any recording: the one assembler (:mod:`sensorfuse.data.assemble`), keyframe loading, the torch
Dataset, augmentation, and the accounting of dropped sensors.

Public API: :class:`SampleConfig`, :func:`load_sample`, :class:`FusionDataset` (torch is imported when it is
first used), and, for convenience, :class:`~sensorfuse.sources.nuscenes.NuScenesIndex` (defined in
:mod:`sensorfuse.sources.nuscenes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import load_sample
from sensorfuse.sources.nuscenes.index import NuScenesIndex

if TYPE_CHECKING:
    from sensorfuse.data.dataset import FusionDataset

__all__ = ["FusionDataset", "NuScenesIndex", "SampleConfig", "load_sample"]


def __getattr__(name: str) -> Any:
    if name == "FusionDataset":
        from sensorfuse.data.dataset import FusionDataset

        return FusionDataset
    raise AttributeError(name)
