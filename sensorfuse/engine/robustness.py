"""Degraded-sensor scenarios: the robustness matrix of ``sensorfuse evaluate --robustness`` and the rows of
the corruption suite (``--corruptions``, :func:`corruption_scenario`).

A :class:`Scenario` changes how samples are loaded (``drop_channels``: e.g. one radar left out; ``load_gt``:
the ground truth a corruption reads) and/or edits each loaded :class:`~sensorfuse.structures.SensorSample`
(``edit``: drop modalities, thin LiDAR beams, hide a camera, replace the LiDAR by an older sweep, apply a
corruption of :mod:`sensorfuse.corrupt`). Every sensor a scenario removes is recorded in ``meta.missing``
with the reason :data:`~sensorfuse.data.accounting.INTENDED` (counted and reported, never a data fault); a
sensor that is degraded but present (thinned beams, a stale LiDAR, a foggy camera) is not a drop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sensorfuse.classes import LIDAR, MODALITIES
from sensorfuse.corrupt.catalog import Corruption, apply, rng_for
from sensorfuse.corrupt.common import HDL32_LOWEST_DEG, HDL32_SPACING_DEG, ring_of, thin_beams
from sensorfuse.data.accounting import INTENDED, missing_entry
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import Transform
from sensorfuse.structures import PointCloud, SensorSample

__all__ = [
    "HDL32_LOWEST_DEG",
    "HDL32_SPACING_DEG",
    "Edit",
    "Scenario",
    "corruption_scenario",
    "default_matrix",
    "hide_camera",
    "parse_sensors",
    "restrict",
    "ring_of",
    "stale_lidar",
    "thin_beams",
]

#: (sample, loader of another sample token, context) → edited sample. The context holds ``prev`` (the
#: previous keyframe's token or None) and ``reload`` (``(modality, delay_us) → the sample with that
#: modality's stream delayed``, :data:`sensorfuse.corrupt.misalign.Reload`).
Edit = Callable[[SensorSample, Callable[[str], SensorSample], dict[str, Any]], SensorSample]


@dataclass(frozen=True)
class Scenario:
    """One row of the robustness matrix.

    Attributes:
        name: row label (``lidar+camera``, ``lidar_beams_1/4``, ``no_CAM_FRONT``, ``stale_lidar_0.5s``, ...).
        sensors: modalities fed to the model.
        edit: optional per-sample edit (see :data:`Edit`).
        drop_channels: sensor channels left out when loading (e.g. one radar).
        load_gt: load the ground-truth boxes (for an edit that reads them; it removes them again).
    """

    name: str
    sensors: tuple[str, ...]
    edit: Edit | None = None
    drop_channels: tuple[str, ...] = ()
    load_gt: bool = False


def parse_sensors(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"lidar,camera"`` → ``("lidar", "camera")`` (canonical order); ConfigError for unknown names."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    bad = [s for s in items if s not in MODALITIES]
    if bad or not items:
        raise ConfigError(f"--sensors: expected a comma-separated subset of {MODALITIES}, got {text!r}")
    return tuple(m for m in MODALITIES if m in items)


def restrict(sample: SensorSample, sensors: Sequence[str]) -> SensorSample:
    """``sample`` with the modalities not in ``sensors`` removed (and listed in ``meta.missing``)."""
    drop = [m for m in MODALITIES if m not in sensors]
    if not drop:
        return sample
    out = sample.without(*drop)
    out.meta = replace(
        sample.meta,
        missing={**sample.meta.missing, **{m: missing_entry(INTENDED, "sensor subset") for m in drop}},
    )
    return out


def hide_camera(sample: SensorSample, channel: str) -> SensorSample:
    """Mark one camera absent (``present`` False)."""
    cams = sample.cameras
    if cams is None or channel not in cams.channels:
        return sample
    present = cams.present.copy()
    present[cams.channels.index(channel)] = False
    out = replace(sample, cameras=replace(cams, present=present))
    out.meta = replace(
        sample.meta, missing={**sample.meta.missing, channel: missing_entry(INTENDED, "hidden (robustness)")}
    )
    return out


def _drop_lidar(sample: SensorSample, detail: str) -> SensorSample:
    out = sample.without("lidar")
    out.meta = replace(sample.meta, missing={**sample.meta.missing, LIDAR: missing_entry(INTENDED, detail)})
    return out


def stale_lidar(
    sample: SensorSample, load: Callable[[str], SensorSample], prev_token: str | None
) -> SensorSample:
    """Replace the LiDAR by the previous keyframe's (≈0.5 s older), moved into this reference frame.

    Points keep their old world position (a stale sensor does not see motion) and their time lag grows by
    the age. Without a previous keyframe (first sample of a scene) the LiDAR is absent (recorded in
    ``meta.missing`` as intended); a replaced LiDAR is present, so it is not recorded as dropped.
    """
    if sample.lidar is None:
        return sample
    if not prev_token:
        return _drop_lidar(sample, "stale (robustness): no older sweep")
    old = load(prev_token)
    if old.lidar is None:
        return _drop_lidar(
            sample, f"stale (robustness): the previous keyframe has no LiDAR ({old.meta.missing})"
        )
    ref_from_old_ref = Transform(sample.meta.global_from_ref).inverse() @ Transform(old.meta.global_from_ref)
    pts = old.lidar.points.copy()
    pts[:, :3] = ref_from_old_ref.apply(pts[:, :3].astype(np.float64)).astype(np.float32)
    pts[:, 4] += (sample.meta.timestamp - old.meta.timestamp) * 1e-6
    return replace(sample, lidar=PointCloud(pts))


def default_matrix(model_sensors: Sequence[str]) -> list[Scenario]:
    """Every non-empty subset of the model's sensors, then degradations of the full set."""
    full = tuple(m for m in MODALITIES if m in model_sensors)
    rows = [
        Scenario("+".join(sub), sub)
        for r in range(len(full), 0, -1)
        for sub in itertools.combinations(full, r)
    ]
    if "lidar" in full:
        rows += [
            Scenario("lidar_beams_1/2", full, lambda s, _l, _c: thin_beams(s, 2)),
            Scenario("lidar_beams_1/4", full, lambda s, _l, _c: thin_beams(s, 4)),
            Scenario("stale_lidar_0.5s", full, lambda s, load, ctx: stale_lidar(s, load, ctx.get("prev"))),
        ]
    if "camera" in full:
        rows.append(Scenario("no_CAM_FRONT", full, lambda s, _l, _c: hide_camera(s, "CAM_FRONT")))
    if "radar" in full:
        rows.append(Scenario("no_RADAR_FRONT", full, drop_channels=("RADAR_FRONT",)))
    return rows


def corruption_scenario(c: Corruption, severity: int, sensors: Sequence[str], seed: int) -> Scenario:
    """The scenario of one corruption row: the model's ``sensors``, every sample corrupted with ``c`` at
    ``severity`` (generator seeded from ``seed``, the name, the severity and the sample token).

    A corruption that reads the ground truth gets it loaded for its row only, and removed after it ran (the
    model never sees it, and the batches look like every other row's).
    """

    def edit(sample: SensorSample, _load: Callable[[str], SensorSample], ctx: dict[str, Any]) -> SensorSample:
        rng = rng_for(seed, c.name, severity, sample.meta.sample_token)
        out = apply(sample, c.name, severity, rng, ctx.get("reload"))
        return replace(out, gt=None) if c.needs_gt else out

    return Scenario(f"{c.name}@{severity}", tuple(sensors), edit, load_gt=c.needs_gt)
