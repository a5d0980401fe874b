"""Torch Dataset of :class:`~sensorfuse.structures.SensorSample` (use with ``sensorfuse.structures.collate``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import load_sample, nuscenes_drive
from sensorfuse.sources.nuscenes.index import NuScenesIndex
from sensorfuse.structures import SensorSample

Augment = Callable[[SensorSample, np.random.Generator], SensorSample]


class FusionDataset(Dataset[SensorSample]):
    """Keyframes of a split (or an explicit token list) loaded by :func:`load_sample`.

    Args:
        index: the dataset index (memory-mapped: forked workers share its pages; pickling sends only its folder).
        split_or_tokens: split name (``mini_train``, ``val``, ``all``, a ``splits.json`` name) or sample tokens.
        cfg: sample assembly config.
        augment: ``augment(sample, rng) -> sample`` (e.g. :class:`sensorfuse.data.augment.GlobalAugment`);
            the rng is seeded from the DataLoader's per-epoch, per-worker seed and the item index.
    """

    def __init__(
        self,
        index: NuScenesIndex,
        split_or_tokens: str | Sequence[str],
        cfg: SampleConfig | None = None,
        augment: Augment | None = None,
    ) -> None:
        self.index = index
        self.cfg = cfg or SampleConfig()
        self.augment = augment
        self.drive = nuscenes_drive(index, self.cfg)
        if isinstance(split_or_tokens, str):
            self.tokens = index.split_tokens(split_or_tokens)
        else:
            self.tokens = list(split_or_tokens)
            for t in self.tokens:
                index.sample(t)  # DataError for an unknown token, now rather than in a worker

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> SensorSample:
        # No cv2.setNumThreads() here: called in a forked worker after the parent used OpenCV's thread pool,
        # it deadlocks (seen with DataLoader workers after a parent-side load_sample).
        sample = load_sample(self.index, self.tokens[i], self.cfg, self.drive)
        if self.augment is not None:
            rng = np.random.default_rng([torch.initial_seed() % 2**32, i])
            sample = self.augment(sample, rng)
        return sample
