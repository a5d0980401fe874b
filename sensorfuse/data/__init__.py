"""Sample assembly from a nuScenes dataroot: index (devkit, JSON cache), typed samples, torch Dataset.

Public API: :class:`NuScenesIndex`, :class:`SampleConfig`, :func:`load_sample`, :class:`FusionDataset`
(torch is imported when :class:`FusionDataset` is first used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sensorfuse.data.config import SampleConfig
from sensorfuse.data.index import NuScenesIndex
from sensorfuse.data.sample import load_sample

if TYPE_CHECKING:
    from sensorfuse.data.dataset import FusionDataset

__all__ = ["FusionDataset", "NuScenesIndex", "SampleConfig", "load_sample"]


def __getattr__(name: str) -> Any:
    if name == "FusionDataset":
        from sensorfuse.data.dataset import FusionDataset

        return FusionDataset
    raise AttributeError(name)
