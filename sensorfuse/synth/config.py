"""Configuration of the synthetic world generator (a frozen dataclass, validated at the boundary)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sensorfuse.classes import DETECTION_CLASSES
from sensorfuse.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RIG = REPO / "calib" / "nuscenes.yaml"
VERSIONS = ("v1.0-mini", "v1.0-trainval")
#: ``full``: every sample_data has its own simulated file; ``shared``: one file per channel and scene, which
#: every sample_data of that channel in the scene names (full-sized tables, a small disk; see docs/synth.md).
PAYLOADS = ("full", "shared")
#: ``nuscenes.utils.splits`` mini lists (a test checks they equal the devkit's)
MINI_TRAIN = (
    "scene-0061",
    "scene-0553",
    "scene-0655",
    "scene-0757",
    "scene-0796",
    "scene-1077",
    "scene-1094",
    "scene-1100",
)
MINI_VAL = ("scene-0103", "scene-0916")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    ``scenes`` scenes of ``scene_seconds`` each (keyframes at 2 Hz), named after the official split lists of
    ``version`` (or ``splits_path``: a ``{"train": [...], "val": [...]}`` JSON). ``val_scenes`` of them come from
    the val list (default: proportional, at least one when ``scenes >= 2``). Actors within ``annotation_range``
    metres of the ego are annotated at each keyframe. ``payload`` is ``full`` (a simulated file per
    sample_data) or ``shared`` (one simulated file per channel and scene, named by all of that channel's
    sample_data in the scene; the annotations still count the points of simulated keyframes).
    """

    version: str = "v1.0-mini"
    scenes: int = 10
    seed: int = 0
    scene_seconds: float = 8.0
    image_width: int = 400
    image_height: int = 224
    rig_path: Path = DEFAULT_RIG
    classes: tuple[str, ...] = DETECTION_CLASSES
    val_scenes: int | None = None
    splits_path: Path | None = None
    jpeg_quality: int = 90
    lidar_azimuth_steps: int = 1084
    progress: bool = True
    workers: int = 0  # processes generating scenes in parallel; 0 = one per CPU core
    payload: str = "full"
    annotation_range: float = 60.0

    def validate(self) -> None:
        if self.version not in VERSIONS and self.splits_path is None:
            raise ConfigError(f"version {self.version!r}: expected one of {VERSIONS} (or give a splits.json)")
        if self.scenes < 1:
            raise ConfigError(f"scenes = {self.scenes}: need at least 1 scene")
        if not 1.0 <= self.scene_seconds <= 60.0:
            raise ConfigError(f"scene_seconds = {self.scene_seconds}: expected 1 to 60 seconds")
        if not (16 <= self.image_width <= 1600 and 16 <= self.image_height <= 900):
            raise ConfigError(
                f"image size {self.image_width}x{self.image_height}: expected 16..1600 x 16..900"
            )
        unknown = [c for c in self.classes if c not in DETECTION_CLASSES]
        if unknown or not self.classes:
            raise ConfigError(
                f"classes: unknown class name(s) {unknown}; expected a subset of {DETECTION_CLASSES}"
            )
        if self.val_scenes is not None and not 0 <= self.val_scenes <= self.scenes:
            raise ConfigError(f"val_scenes = {self.val_scenes}: expected 0..scenes ({self.scenes})")
        if not 100 <= self.lidar_azimuth_steps <= 4000:
            raise ConfigError(f"lidar_azimuth_steps = {self.lidar_azimuth_steps}: expected 100..4000")
        if self.payload not in PAYLOADS:
            raise ConfigError(f"payload = {self.payload!r}: expected one of {PAYLOADS}")
        if not 1.0 <= self.annotation_range <= 200.0:
            raise ConfigError(f"annotation_range = {self.annotation_range}: expected 1 to 200 m")


def token(*parts: object) -> str:
    """A deterministic 32-hex token from its parts (like nuScenes' uuid4 hex tokens)."""
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def scene_names(cfg: SynthConfig) -> list[tuple[str, str]]:
    """``[(scene name, split)]`` for the configured number of scenes (val scenes first)."""
    import json

    if cfg.splits_path is not None:
        try:
            splits = json.loads(Path(cfg.splits_path).read_text())
            train, val = list(splits["train"]), list(splits["val"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(
                f"{cfg.splits_path}: expected a JSON {{'train': [...], 'val': [...]}} ({e})"
            ) from None
    else:
        if cfg.version.endswith("mini"):  # the devkit's mini lists (importing the devkit takes seconds)
            train, val = list(MINI_TRAIN), list(MINI_VAL)
        else:
            from nuscenes.utils.splits import create_splits_scenes

            official = create_splits_scenes()
            train, val = official["train"], official["val"]
    n_val = cfg.val_scenes
    if n_val is None:
        n_val = 0 if cfg.scenes < 2 else max(1, round(cfg.scenes * len(val) / (len(val) + len(train))))
    n_train = cfg.scenes - n_val
    if n_val > len(val) or n_train > len(train):
        raise ConfigError(
            f"scenes = {cfg.scenes} ({n_val} val, {n_train} train): {cfg.version} has only "
            f"{len(val)} val and {len(train)} train scene names"
        )
    return [(n, "val") for n in val[:n_val]] + [(n, "train") for n in train[:n_train]]
