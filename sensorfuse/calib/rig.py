"""Sensor rigs: which sensors a vehicle carries and where (``ego_from_sensor``), plus camera intrinsics.

A rig file is YAML (read with ``yaml.safe_load``)::

    name: nuscenes-scene-0061
    sensors:
      CAM_FRONT:
        modality: camera              # camera | lidar | radar
        sensor_token: 725903f5...      # nuScenes sensor.json token
        calibrated_sensor_token: ...   # nuScenes calibrated_sensor.json token (optional)
        translation: [x, y, z]         # sensor origin in the ego frame, metres
        rotation: [w, x, y, z]         # ego_from_sensor rotation, unit quaternion
        intrinsic: [[fx,0,cx],[0,fy,cy],[0,0,1]]   # cameras only
        image_size: [1600, 900]        # cameras only, width height

Nothing in sensorfuse assumes the nuScenes mounting: everything reads the rig.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sensorfuse.classes import MODALITIES
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.geometry import Transform, check_rotation, quat_to_matrix
from sensorfuse.io.tables import load_table
from sensorfuse.utils.atomic import atomic_write_text
from sensorfuse.utils.yaml_io import read_yaml

DEFAULT_IMAGE_SIZE = (1600, 900)


@dataclass(frozen=True)
class SensorCalib:
    """One sensor of a rig. ``rotation`` is wxyz of ego_from_sensor; ``intrinsic`` (3, 3) for cameras."""

    channel: str
    modality: str
    sensor_token: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]
    intrinsic: np.ndarray | None = None
    image_size: tuple[int, int] | None = None  # (width, height)
    calibrated_sensor_token: str = ""

    @property
    def ego_from_sensor(self) -> Transform:
        return Transform.from_quat(self.rotation, self.translation)


@dataclass(frozen=True)
class Rig:
    """Sensors by channel name."""

    sensors: dict[str, SensorCalib]
    name: str = "rig"

    def ego_from_sensor(self, channel: str) -> Transform:
        if channel not in self.sensors:
            raise ConfigError(f"rig {self.name!r} has no sensor {channel!r} (has {sorted(self.sensors)})")
        return self.sensors[channel].ego_from_sensor

    def channels(self, modality: str) -> list[str]:
        return [c for c, s in self.sensors.items() if s.modality == modality]


def _floats(where: str, value: Any, n: int) -> tuple[float, ...]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {n} numbers, got {value!r}") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{where}: expected {n} finite numbers, got {value!r}")
    return tuple(float(v) for v in arr)


def _intrinsic(where: str, value: Any) -> np.ndarray:
    try:
        k = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: intrinsic must be a 3x3 matrix, got {value!r}") from None
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise ConfigError(f"{where}: intrinsic must be a finite 3x3 matrix, got shape {k.shape}")
    if k[0, 0] <= 0 or k[1, 1] <= 0 or k[0, 1] != 0 or not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
        raise ConfigError(
            f"{where}: intrinsic must be [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0, got {k.tolist()}"
        )
    return k


def _sensor(where: str, channel: str, rec: Any) -> SensorCalib:
    if not isinstance(rec, dict):
        raise ConfigError(f"{where}: sensor {channel!r} must be a mapping")
    modality = rec.get("modality")
    if modality not in MODALITIES:
        raise ConfigError(f"{where} [{channel}.modality]: expected one of {MODALITIES}, got {modality!r}")
    token = rec.get("sensor_token")
    if not isinstance(token, str) or not token:
        raise ConfigError(f"{where} [{channel}.sensor_token]: expected a non-empty string, got {token!r}")
    t = _floats(f"{where} [{channel}.translation]", rec.get("translation"), 3)
    q = _floats(f"{where} [{channel}.rotation]", rec.get("rotation"), 4)
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > 1e-3:
        raise ConfigError(
            f"{where} [{channel}.rotation]: quaternion norm {norm:.4f}, expected a unit quaternion"
        )
    check_rotation(quat_to_matrix(q) * norm, f"{where} [{channel}.rotation]")
    k, size = None, None
    if modality == "camera":
        k = _intrinsic(f"{where} [{channel}.intrinsic]", rec.get("intrinsic"))
        wh = _floats(f"{where} [{channel}.image_size]", rec.get("image_size", list(DEFAULT_IMAGE_SIZE)), 2)
        if min(wh) < 1 or any(v != int(v) for v in wh):
            raise ConfigError(f"{where} [{channel}.image_size]: expected two positive integers, got {wh}")
        size = (int(wh[0]), int(wh[1]))
    cs_token = rec.get("calibrated_sensor_token", "")
    return SensorCalib(channel, modality, token, t, q, k, size, str(cs_token))  # type: ignore[arg-type]


def rig_from_dict(data: Any, where: str = "<rig>") -> Rig:
    """Validate a parsed rig mapping (see the module docstring) into a :class:`Rig`."""
    if not isinstance(data, dict) or not isinstance(data.get("sensors"), dict) or not data["sensors"]:
        raise ConfigError(f"{where}: a rig file needs a non-empty 'sensors' mapping")
    sensors = {str(ch): _sensor(where, str(ch), rec) for ch, rec in data["sensors"].items()}
    return Rig(sensors=sensors, name=str(data.get("name", Path(where).stem)))


def load_rig(path: str | Path) -> Rig:
    """Read and validate a rig YAML file; :class:`ConfigError` names the file, sensor and field at fault."""
    return rig_from_dict(read_yaml(path, "rig file"), str(path))


def rig_to_dict(rig: Rig) -> dict[str, Any]:
    sensors: dict[str, Any] = {}
    for ch, s in rig.sensors.items():
        rec: dict[str, Any] = {
            "modality": s.modality,
            "sensor_token": s.sensor_token,
            "calibrated_sensor_token": s.calibrated_sensor_token,
            "translation": [float(v) for v in s.translation],
            "rotation": [float(v) for v in s.rotation],
        }
        if s.intrinsic is not None:
            rec["intrinsic"] = np.asarray(s.intrinsic, dtype=np.float64).tolist()
            rec["image_size"] = list(s.image_size or DEFAULT_IMAGE_SIZE)
        sensors[ch] = rec
    return {"name": rig.name, "sensors": sensors}


def save_rig(rig: Rig, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write a rig YAML atomically (``extra`` top-level keys, e.g. a source note, are added)."""
    data = rig_to_dict(rig)
    data.update(extra or {})
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, width=120))


def _table(table_dir: Path, name: str) -> list[dict[str, Any]]:
    """One checked table of a table folder (:func:`sensorfuse.io.tables.load_table`)."""
    return load_table(table_dir.parent, table_dir.name, name, fields=None)


def rig_from_tables(table_dir: str | Path, scene_index: int = 0) -> Rig:
    """The rig of one scene from devkit-format ``sensor.json`` / ``calibrated_sensor.json`` / ``scene.json``.

    Without ``sample_data`` the calibrated_sensor records cannot be linked to scenes; the real v1.0-mini
    tables store them in blocks of one record per sensor, in ``scene.json`` order, so block
    ``scene_index`` is used, and it is checked to hold every sensor exactly once.
    """
    table_dir = Path(table_dir)
    sensors = {s["token"]: s for s in _table(table_dir, "sensor")}
    calibs = _table(table_dir, "calibrated_sensor")
    scenes = _table(table_dir, "scene")
    n = len(sensors)
    if not 0 <= scene_index < len(scenes) or len(calibs) < n * (scene_index + 1):
        raise DataError(
            table_dir, f"scene_index {scene_index} out of range ({len(scenes)} scenes)", "scene_index"
        )
    block = calibs[n * scene_index : n * (scene_index + 1)]
    if {c["sensor_token"] for c in block} != set(sensors):
        raise DataError(
            table_dir / "calibrated_sensor.json", f"block {scene_index} does not hold every sensor once"
        )
    out: dict[str, SensorCalib] = {}
    for c in sorted(block, key=lambda c: sensors[c["sensor_token"]]["channel"]):
        s = sensors[c["sensor_token"]]
        k = np.asarray(c["camera_intrinsic"], dtype=np.float64) if c["camera_intrinsic"] else None
        size = DEFAULT_IMAGE_SIZE if s["modality"] == "camera" else None
        t = tuple(float(v) for v in c["translation"])
        q = tuple(float(v) for v in c["rotation"])
        out[s["channel"]] = SensorCalib(s["channel"], s["modality"], s["token"], t, q, k, size, c["token"])  # type: ignore[arg-type]
    return Rig(sensors=out, name=f"nuscenes-{scenes[scene_index]['name']}")
