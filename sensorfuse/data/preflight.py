"""Checks that run before the long work: every keyframe file of a split, looked at without decoding it.

``train`` and ``evaluate`` call :func:`scan_files` on their split before the first sample, then
``MissingTally.check``: a split whose LiDAR files were all deleted fails in the first seconds instead of after
a whole run of dropped sensors. The scan stats each keyframe file (no reads): absent, empty, or (LiDAR) a size
that is not a whole number of points. Decoding problems are found later, per sample, and counted the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from sensorfuse.data.accounting import MissingTally, missing_entry
from sensorfuse.data.config import SampleConfig
from sensorfuse.io.lidar_bin import RECORD_BYTES
from sensorfuse.sources.nuscenes.index import NuScenesIndex


def _problem(
    index: NuScenesIndex, sample_token: str, data: Mapping[str, str], channel: str, cfg: SampleConfig
) -> str | None:
    """Why ``channel``'s keyframe file of a sample (its ``data``: channel → sample_data token) is unusable
    (a ``meta.missing`` entry), or None."""
    sd_token = data.get(channel)
    if sd_token is None or sd_token not in index.sample_data:
        return missing_entry(
            "no keyframe", f"{sample_token} [data.{channel}]: sample has no {channel} keyframe"
        )
    path = index.path(sd_token)
    try:
        size = os.stat(path).st_size
    except OSError as e:
        return missing_entry("missing file", f"{path} [filename]: {e.strerror or e}")
    if size == 0:
        return missing_entry("empty file", f"{path} [filename]: 0 bytes")
    if channel in cfg.lidars and size % RECORD_BYTES:
        return missing_entry(
            "truncated", f"{path}: {size} bytes is not a multiple of {RECORD_BYTES} (5 x float32 per point)"
        )
    return None


def scan_files(
    index: NuScenesIndex,
    tokens: Sequence[str],
    cfg: SampleConfig,
    progress: bool = True,
    modalities: Sequence[str] = ("lidar", "camera", "radar"),
) -> MissingTally:
    """Stat the keyframe file of every channel of ``modalities`` (under ``cfg``) for every sample token.

    Returns:
        a :class:`MissingTally` with one frame per token and a count per channel and reason (``no keyframe``,
        ``missing file``, ``empty file``, ``truncated``). Call ``.check(max_fraction, where)`` on it.
    """
    from tqdm import tqdm

    channels = cfg.channels_for(modalities)
    tally = MissingTally()
    for token in tqdm(tokens, desc="preflight: files", disable=not progress or len(tokens) < 2000):
        missing = {}
        data = index.sample(token)["data"]  # one record lookup per sample, not per channel
        for channel in channels:
            problem = _problem(index, token, data, channel, cfg)
            if problem is not None:
                missing[channel] = problem
        tally.add(missing)
    return tally
