"""The corruption catalog: a plain ``name → Corruption`` dict (grep it; nothing registers itself on import),
name selection (``all``, a family, or names), the deterministic per-sample generator and :func:`apply`.

Every corruption is ``fn(sample, severity, rng) -> sample`` (the temporal ones also take ``reload``, see
:mod:`sensorfuse.corrupt.misalign`). Its generator is seeded from ``(seed, name, severity, sample token)``
(:func:`rng_for`), so the same seed gives the same corrupted inputs on any rank, in any order, in a resumed
run and in the replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from sensorfuse.corrupt import camera, failures, lidar, misalign, radar
from sensorfuse.corrupt.misalign import Reload
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import ConfigError
from sensorfuse.structures import SensorSample

FAMILIES = ("failures", "lidar", "camera", "misalign", "radar")

CorruptFn = Callable[..., SensorSample]


@dataclass(frozen=True)
class Corruption:
    """One corruption of the catalog.

    Attributes:
        name: the name on the command line and in tables.
        family: one of :data:`FAMILIES` (the module that implements it).
        fn: ``fn(sample, severity, rng[, reload]) -> sample``.
        levels: what each severity sets, for tables and docs (its length is the number of severities).
        reference: the paper (and where it differs from it, in the function's docstring).
        modalities: the modalities it changes; a model reading none of them is not affected.
        needs_gt: it reads the ground-truth boxes (points inside objects).
        needs_reload: it re-reads the recording (temporal misalignment).
    """

    name: str
    family: str
    fn: CorruptFn
    levels: tuple[str, ...]
    reference: str
    modalities: tuple[str, ...]
    needs_gt: bool = False
    needs_reload: bool = False

    @property
    def severities(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.levels) + 1))


METABEV = "MetaBEV (Ge et al., ICCV 2023); Yu et al., CVPRW 2022"
ROBO3D = "Robo3D (Kong et al., ICCV 2023)"
ROBOBEV = "RoboBEV / nuScenes-C (Xie et al., 2023)"
IMAGENET_C = "ImageNet-C (Hendrycks & Dietterich, ICLR 2019)"
DONG = "Dong et al., CVPR 2023"
RADAR = "sensorfuse (radar; see docs/robustness.md)"

_ALL = (
    # sensor failures (MetaBEV)
    Corruption("lidar_limited_fov", "failures", failures.limited_fov, ("180°", "120°", "90°"), METABEV, ("lidar",)),
    Corruption("lidar_missing_objects", "failures", failures.missing_objects, ("p 0.25", "p 0.5", "p 0.75"), METABEV, ("lidar",), needs_gt=True),
    Corruption("lidar_beam_reduction", "failures", failures.beam_reduction, ("16 beams", "8 beams", "4 beams"), METABEV, ("lidar",)),
    Corruption("camera_view_drop", "failures", failures.view_drop, ("1 view", "3 views", "5 views"), METABEV, ("camera",)),
    Corruption("camera_view_noise", "failures", failures.view_noise, ("std 0.08", "std 0.18", "std 0.38"), METABEV, ("camera",)),
    Corruption("camera_obstacle_occlusion", "failures", failures.obstacle_occlusion, ("10%", "25%", "40%"), METABEV, ("camera",)),
    Corruption("lidar_missing", "failures", failures.lidar_missing, ("all",), METABEV, ("lidar",)),
    Corruption("camera_missing", "failures", failures.camera_missing, ("all",), METABEV, ("camera",)),
    # LiDAR (Robo3D)
    Corruption("lidar_fog", "lidar", lidar.fog, ("β 0.008", "β 0.05", "β 0.2"), ROBO3D, ("lidar",)),
    Corruption("lidar_wet_ground", "lidar", lidar.wet_ground, ("0.2 mm", "0.6 mm", "1.2 mm"), ROBO3D, ("lidar",)),
    Corruption("lidar_snow", "lidar", lidar.snow, ("0.5 mm/h", "1.25 mm/h", "3.125 mm/h"), ROBO3D, ("lidar",)),
    Corruption("lidar_motion_blur", "lidar", lidar.motion_blur, ("σ 0.2 m", "σ 0.4 m", "σ 0.5 m"), ROBO3D, ("lidar",)),
    Corruption("lidar_beam_missing", "lidar", lidar.beam_missing, ("8 rings", "16 rings", "24 rings"), ROBO3D, ("lidar",)),
    Corruption("lidar_crosstalk", "lidar", lidar.crosstalk, ("3%", "4%", "5%"), ROBO3D, ("lidar",)),
    Corruption("lidar_incomplete_echo", "lidar", lidar.incomplete_echo, ("75%", "85%", "95%"), ROBO3D, ("lidar",), needs_gt=True),
    Corruption("lidar_cross_sensor", "lidar", lidar.cross_sensor, ("24 rings, ½ pts", "16 rings, ½ pts", "8 rings, ½ pts"), ROBO3D, ("lidar",)),
    # camera (RoboBEV / nuScenes-C)
    Corruption("camera_brightness", "camera", camera.brightness, ("+0.2", "+0.4", "+0.5"), ROBOBEV, ("camera",)),
    Corruption("camera_dark", "camera", camera.dark, ("0.4", "0.3", "0.2"), ROBOBEV, ("camera",)),
    Corruption("camera_fog", "camera", camera.fog, ("2.0", "2.5", "3.0"), ROBOBEV, ("camera",)),
    Corruption("camera_frost", "camera", camera.frost, ("0.6", "0.7", "0.75"), IMAGENET_C, ("camera",)),
    Corruption("camera_snow", "camera", camera.snow, ("1", "2", "3"), ROBOBEV, ("camera",)),
    Corruption("camera_contrast", "camera", camera.contrast, ("0.3", "0.1", "0.05"), IMAGENET_C, ("camera",)),
    Corruption("camera_motion_blur", "camera", camera.motion_blur, ("15/5 px", "15/12 px", "20/15 px"), ROBOBEV, ("camera",)),
    Corruption("camera_color_quant", "camera", camera.color_quant, ("4 bits", "3 bits", "2 bits"), ROBOBEV, ("camera",)),
    Corruption("camera_crash", "camera", camera.camera_crash, ("2 cams", "4 cams", "5 cams"), ROBOBEV, ("camera",)),
    Corruption("camera_frame_lost", "camera", camera.frame_lost, ("p 2/6", "p 4/6", "p 5/6"), ROBOBEV, ("camera",)),
    # misalignment (Dong et al.)
    Corruption("spatial_misalignment", "misalign", misalign.spatial_misalignment, ("0.23° 4 cm", "0.69° 12 cm", "1.15° 20 cm"), DONG, ("lidar", "camera", "radar")),
    Corruption("temporal_lidar", "misalign", misalign.temporal_lidar, ("100 ms", "300 ms", "500 ms"), DONG, ("lidar",), needs_reload=True),
    Corruption("temporal_camera", "misalign", misalign.temporal_camera, ("100 ms", "300 ms", "500 ms"), DONG, ("camera",), needs_reload=True),
    Corruption("temporal_radar", "misalign", misalign.temporal_radar, ("100 ms", "300 ms", "500 ms"), DONG, ("radar",), needs_reload=True),
    # radar
    Corruption("radar_dropped_returns", "radar", radar.dropped_returns, ("25%", "50%", "75%"), RADAR, ("radar",)),
    Corruption("radar_velocity_noise", "radar", radar.velocity_noise, ("0.5 m/s", "1 m/s", "2 m/s"), RADAR, ("radar",)),
    Corruption("radar_ghost_targets", "radar", radar.ghost_targets, ("10%", "25%", "50%"), RADAR, ("radar",)),
    Corruption("radar_missing", "radar", radar.radar_missing, ("all",), RADAR, ("radar",)),
)  # fmt: skip

#: name → corruption, in the order of the tables
CATALOG: dict[str, Corruption] = {c.name: c for c in _ALL}


def get(name: str) -> Corruption:
    """The corruption called ``name``.

    Raises:
        ConfigError: unknown name (the known ones are listed).
    """
    if name not in CATALOG:
        raise ConfigError(f"unknown corruption {name!r}; expected one of: {', '.join(CATALOG)}")
    return CATALOG[name]


def select(spec: str) -> list[Corruption]:
    """``all``, family names (``camera``, ``lidar``, ``failures``, ``misalign``, ``radar``) and/or corruption
    names, comma-separated, in catalog order without duplicates.

    Raises:
        ConfigError: an empty selection or an unknown name.
    """
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise ConfigError(f"--corruptions {spec!r}: expected all, a family ({', '.join(FAMILIES)}) or names")
    wanted: set[str] = set()
    for item in items:
        if item == "all":
            wanted |= set(CATALOG)
        elif item in FAMILIES:
            wanted |= {c.name for c in _ALL if c.family == item}
        else:
            wanted.add(get(item).name)
    return [c for c in _ALL if c.name in wanted]


def parse_severities(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,2,3"`` → ``(1, 2, 3)``; each in 1..3.

    Raises:
        ConfigError: not a comma-separated list of 1, 2, 3.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        out = sorted({int(str(s).strip()) for s in items if str(s).strip()})
    except ValueError:
        out = []
    if not out or not all(1 <= s <= 3 for s in out):
        raise ConfigError(f"--severities {text!r}: expected a comma-separated subset of 1,2,3")
    return tuple(out)


def parse_spec(text: str) -> tuple[Corruption, int]:
    """``"lidar_fog:3"`` → (the corruption, 3).

    Raises:
        ConfigError: not ``NAME:SEVERITY`` with a known name and one of its severities.
    """
    name, sep, sev = text.partition(":")
    c = get(name.strip())
    if not sep or not sev.strip().isdigit() or int(sev) not in c.severities:
        raise ConfigError(
            f"--corrupt {text!r}: expected NAME:SEVERITY with a severity in {list(c.severities)} for {c.name}"
        )
    return c, int(sev)


def rng_for(seed: int, name: str, severity: int, token: str) -> np.random.Generator:
    """The generator of one corrupted sample, seeded from ``(seed, name, severity, token)`` (stable across
    processes and Python versions: a SHA-256, not ``hash()``)."""
    digest = hashlib.sha256(f"{seed}\x1f{name}\x1f{severity}\x1f{token}".encode()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


def apply(
    sample: SensorSample,
    name: str,
    severity: int,
    rng: np.random.Generator,
    reload: Reload | None = None,
) -> SensorSample:
    """``sample`` with corruption ``name`` at ``severity`` (a new sample; ``sample`` is not changed).

    The replay pipeline calls it on every assembled frame (``--corrupt NAME:K``); the evaluation through
    :class:`sensorfuse.engine.evaluate.ScenarioDataset`.

    Raises:
        ConfigError: unknown name, severity out of range, or a temporal corruption without ``reload``.
        DataError: a corruption that needs ground-truth boxes on a sample without them.
    """
    c = get(name)
    if c.needs_reload:
        if reload is None:
            raise ConfigError(
                f"corruption {name} re-reads older messages of the recording and needs a loader; it runs in "
                "`sensorfuse evaluate --corruptions` and `sensorfuse corrupt`, not on live frames (the replay's "
                "--delay CHANNEL=DURATION delays arrivals instead)"
            )
        return c.fn(sample, severity, rng, reload)
    return c.fn(sample, severity, rng)


def live(c: Corruption, severity: int, seed: int = 0) -> Callable[[SensorSample], SensorSample]:
    """A ``sample → sample`` function applying ``c`` to frames as they come (the replay), each frame's
    generator seeded by its sample token (or scene and timestamp for frames between keyframes).

    Raises:
        ConfigError: ``c`` re-reads the recording (temporal misalignment), which live frames cannot.
    """
    if c.needs_reload:
        raise ConfigError(
            f"--corrupt {c.name}: re-reads older messages of the recording; not available on live frames (use "
            "`sensorfuse corrupt` to look at it, or the replay's --delay CHANNEL=DURATION to delay arrivals)"
        )

    def corrupt(sample: SensorSample) -> SensorSample:
        key = sample.meta.sample_token or f"{sample.meta.scene_name}@{sample.meta.timestamp}"
        return apply(sample, c.name, severity, rng_for(seed, c.name, severity, key))

    return corrupt


def for_replay(
    spec: str | None, trigger: str, cfg: SampleConfig, seed: int = 0
) -> tuple[Callable[[SensorSample], SensorSample], SampleConfig]:
    """The replay's ``--corrupt NAME:K``: the per-frame function (identity without ``spec``) and the sample
    settings it needs (ground truth loaded for a corruption that reads it, which needs keyframe triggers).

    Raises:
        ConfigError: a bad spec, a temporal corruption, or a ground-truth one with ``--trigger sweep``.
    """
    if not spec:
        return (lambda s: s), cfg
    c, severity = parse_spec(spec)
    if c.needs_gt:
        if trigger != "keyframe":
            raise ConfigError(
                f"--corrupt {spec}: {c.name} reads the ground-truth boxes, which only keyframes have; "
                "use --trigger keyframe"
            )
        cfg = replace(cfg, load_gt=True)
    return live(c, severity, seed), cfg
