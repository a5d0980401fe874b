"""nuScenes-format dataroots (the official release or the synthetic world) as a source.

:class:`NuScenesIndex` indexes the tables once (checked, then the devkit); :class:`NuScenesDrive` serves the
dataroot through the :class:`~sensorfuse.sources.base.Drive` seam.
"""

from __future__ import annotations

from sensorfuse.sources.nuscenes.drive import NuScenesDrive
from sensorfuse.sources.nuscenes.index import NuScenesIndex

__all__ = ["NuScenesDrive", "NuScenesIndex"]
