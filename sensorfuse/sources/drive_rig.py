"""The rig file of a recorded drive: which topics are which sensors, and what the recording does not say.

A recording (ROS 2 bag, MCAP) names topics and frames, not sensors. The rig file (YAML, ``yaml.safe_load``)
maps topics to sensor names and modalities, names the frames of the ego pose, and overrides what the
recording gets wrong or lacks. Calibration otherwise comes from the recording itself: extrinsics from
``/tf_static`` (``ego_frame → sensor frame``), intrinsics from ``CameraInfo`` / ``foxglove.CameraCalibration``::

    name: my-car                      # default: the recording's file name
    reference: LIDAR_TOP              # the sensor whose frame and messages clock the samples (default: first LiDAR)
    ego_frame: base_link              # the vehicle frame of /tf_static (default base_link)
    global_frame: map                 # the world frame of the ego pose (default map)
    odometry: /odom                   # nav_msgs/Odometry global_from_ego; default: /tf global_frame -> ego_frame
    annotations: /gt/boxes            # MarkerArray ground truth (optional, see sensorfuse.sources.markers)
    sensors:                          # sensor name -> where its data is; names are what a SampleConfig selects
      LIDAR_TOP:
        modality: lidar               # lidar | camera | radar
        topic: /ouster/points         # sensor_msgs/PointCloud2 or foxglove.PointCloud
        frame_id: os_lidar            # default: the messages' header.frame_id
        time_field: t                 # per-point time field; default auto (t, time, timestamp, ...); none = ignore
        time_unit: auto               # auto | s | ms | us | ns | abs_s | abs_ns (sensorfuse.sources.points)
        intensity_field: intensity    # default auto (intensity, reflectivity)
        deskew: true                  # default true: deskewed to the message stamp when points have times
      CAM_FRONT:
        modality: camera
        topic: /front/image/compressed   # CompressedImage, Image, or foxglove.CompressedImage
        info_topic: /front/camera_info   # default: a camera_info topic beside or above the image topic
        intrinsics: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]   # override CameraInfo (with image_size [w, h])
      RADAR_FRONT:
        modality: radar
        topic: /radar/scan            # radar_msgs/RadarScan, or a PointCloud2 / foxglove.PointCloud
        doppler_field: v_r            # radial velocity field (default: doppler, radial_velocity, ...)
        rcs_field: rcs                # strength field (default: rcs, amplitude, snr, intensity)
        vx_field: vx_comp             # nuScenes-style compensated velocity (default vx_comp / vy_comp)
        vy_field: vy_comp
        compensate: true              # Doppler + the radar's own velocity (from the ego pose); default true
        ego_from_sensor:              # any sensor: overrides /tf_static
          translation: [3.4, 0.0, 0.5]
          rotation: [1, 0, 0, 0]      # w, x, y, z (sensorfuse / nuScenes order)

Every error is a :class:`~sensorfuse.errors.ConfigError` naming the file, the key and what was expected.

Where a drive's rig comes from (:func:`find_rig`): the ``rig`` argument, else a sidecar ``FILE.rig.yaml``
beside the recording (``drive.mcap.rig.yaml``, ``bag_folder.rig.yaml``), else the rig the recording carries
(``sensorfuse.rig`` metadata: what :mod:`sensorfuse.sources.export_mcap` writes), else one derived from the
topic types (:func:`derive_rig`, a guess that ``sensorfuse drive info`` shows and ``--write-rig`` saves for
editing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sensorfuse.classes import MODALITIES
from sensorfuse.errors import ConfigError
from sensorfuse.geometry import Transform, check_rotation, quat_to_matrix
from sensorfuse.sources.bagfile import BagInfo
from sensorfuse.sources.points import TIME_UNITS
from sensorfuse.utils.atomic import atomic_write_text
from sensorfuse.utils.yaml_io import read_yaml

#: The metadata key (``<record>.<key>``) under which a recording carries its rig as YAML text.
RIG_METADATA_KEY = "sensorfuse.rig"
#: Suffix of a rig sidecar file: ``drive.mcap`` → ``drive.mcap.rig.yaml``.
SIDECAR_SUFFIX = ".rig.yaml"

_TOP_KEYS = ("name", "reference", "ego_frame", "global_frame", "odometry", "annotations", "sensors")
_COMMON_KEYS = ("modality", "topic", "frame_id", "ego_from_sensor")
_SENSOR_KEYS: dict[str, tuple[str, ...]] = {
    "lidar": (*_COMMON_KEYS, "time_field", "time_unit", "intensity_field", "deskew"),
    "camera": (*_COMMON_KEYS, "info_topic", "intrinsics", "image_size"),
    "radar": (*_COMMON_KEYS, "doppler_field", "rcs_field", "vx_field", "vy_field", "compensate"),
}


@dataclass(frozen=True)
class RigSensor:
    """One sensor of a drive rig (see the module docstring for each key).

    ``time_field`` None = automatic, ``""`` = ignore per-point times. ``intrinsics`` (3, 3) and
    ``image_size`` (w, h) override CameraInfo; ``ego_from_sensor`` overrides ``/tf_static``.
    """

    name: str
    modality: str
    topic: str
    frame_id: str = ""
    ego_from_sensor: Transform | None = None
    time_field: str | None = None
    time_unit: str = "auto"
    intensity_field: str | None = None
    deskew: bool = True
    info_topic: str = ""
    intrinsics: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    doppler_field: str | None = None
    rcs_field: str | None = None
    vx_field: str = "vx_comp"
    vy_field: str = "vy_comp"
    compensate: bool = True


@dataclass(frozen=True)
class DriveRig:
    """What a recording's topics are (see the module docstring).

    Attributes:
        name: the rig's (or the drive's) name.
        sensors: sensor name → :class:`RigSensor`, in file order.
        reference: the reference sensor's name.
        ego_frame, global_frame: the frames of the ego pose ``global_from_ego``.
        odometry: a ``nav_msgs/Odometry`` topic for the ego pose, or "" (then ``/tf``).
        annotations: a MarkerArray ground-truth topic, or "".
        source: where the rig came from (a path, ``embedded``, ``derived``), for reports.
    """

    name: str
    sensors: dict[str, RigSensor]
    reference: str
    ego_frame: str = "base_link"
    global_frame: str = "map"
    odometry: str = ""
    annotations: str = ""
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def channels(self, modality: str) -> tuple[str, ...]:
        """Sensor names of one modality, in rig order."""
        return tuple(n for n, s in self.sensors.items() if s.modality == modality)


# ----------------------------------------------------------------------------------------------- parsing


def _fail(where: str, key: str, expected: str, got: Any) -> ConfigError:
    return ConfigError(f"{where} [{key}]: expected {expected}, got {got!r}")


def _str(where: str, key: str, value: Any, default: str = "", allow_empty: bool = False) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _fail(where, key, "a non-empty string", value)
    return value


def _opt_str(where: str, key: str, value: Any) -> str | None:
    """An optional name: None when not given."""
    return None if value is None else _str(where, key, value)


def _topic(where: str, key: str, value: Any, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.startswith("/"):
        raise _fail(where, key, "a topic name starting with '/'", value)
    return value


def _bool(where: str, key: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _fail(where, key, "true or false", value)
    return value


def _numbers(where: str, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(where, key, f"numbers of shape {shape}", value) from None
    if arr.shape != shape or not np.isfinite(arr).all():
        raise _fail(where, key, f"finite numbers of shape {shape}", value)
    return arr


def _extrinsics(where: str, key: str, value: Any) -> Transform | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"translation", "rotation"}:
        raise _fail(where, key, "a mapping with translation [x, y, z] and rotation [w, x, y, z]", value)
    t = _numbers(where, f"{key}.translation", value.get("translation"), (3,))
    q = _numbers(where, f"{key}.rotation", value.get("rotation"), (4,))
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > 1e-3:
        raise _fail(where, f"{key}.rotation", "a unit quaternion [w, x, y, z]", value.get("rotation"))
    check_rotation(quat_to_matrix(q / norm), f"{where} [{key}.rotation]")
    return Transform.from_quat(q / norm, t)


def _intrinsics(where: str, key: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    k = _numbers(where, key, value, (3, 3))
    if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[2], [0, 0, 1]):
        raise _fail(where, key, "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0", value)
    return k


def _sensor(where: str, name: str, rec: Any) -> RigSensor:
    key = f"sensors.{name}"
    if not isinstance(rec, dict):
        raise _fail(where, key, "a mapping with modality and topic", rec)
    modality = rec.get("modality")
    if modality not in MODALITIES:
        raise _fail(where, f"{key}.modality", f"one of {', '.join(MODALITIES)}", modality)
    allowed = _SENSOR_KEYS[modality]
    if unknown := sorted(set(rec) - set(allowed)):
        raise _fail(
            where, f"{key}.{unknown[0]}", f"one of the {modality} keys {', '.join(allowed)}", unknown[0]
        )
    kw: dict[str, Any] = {
        "name": name,
        "modality": modality,
        "topic": _topic(where, f"{key}.topic", rec.get("topic"), required=True),
        "frame_id": _str(where, f"{key}.frame_id", rec.get("frame_id")),
        "ego_from_sensor": _extrinsics(where, f"{key}.ego_from_sensor", rec.get("ego_from_sensor")),
    }
    if modality == "lidar":
        tf = rec.get("time_field")
        kw["time_field"] = "" if tf in ("none", False) else _opt_str(where, f"{key}.time_field", tf)
        unit = rec.get("time_unit", "auto")
        if unit not in TIME_UNITS:
            raise _fail(where, f"{key}.time_unit", f"one of {', '.join(TIME_UNITS)}", unit)
        kw["time_unit"] = unit
        kw["intensity_field"] = _opt_str(where, f"{key}.intensity_field", rec.get("intensity_field"))
        kw["deskew"] = _bool(where, f"{key}.deskew", rec.get("deskew"), True)
    elif modality == "camera":
        kw["info_topic"] = _topic(where, f"{key}.info_topic", rec.get("info_topic"), required=False)
        kw["intrinsics"] = _intrinsics(where, f"{key}.intrinsics", rec.get("intrinsics"))
        if rec.get("image_size") is not None:
            wh = _numbers(where, f"{key}.image_size", rec["image_size"], (2,))
            if (wh < 1).any() or (wh != np.round(wh)).any():
                raise _fail(
                    where, f"{key}.image_size", "[width, height], positive integers", rec["image_size"]
                )
            kw["image_size"] = (int(wh[0]), int(wh[1]))
        if (kw["intrinsics"] is None) != (kw.get("image_size") is None):
            raise _fail(
                where, f"{key}.intrinsics", "intrinsics and image_size given together", rec.get("intrinsics")
            )
    else:
        for k in ("doppler_field", "rcs_field"):
            kw[k] = _opt_str(where, f"{key}.{k}", rec.get(k))
        kw["vx_field"] = _str(where, f"{key}.vx_field", rec.get("vx_field"), "vx_comp")
        kw["vy_field"] = _str(where, f"{key}.vy_field", rec.get("vy_field"), "vy_comp")
        kw["compensate"] = _bool(where, f"{key}.compensate", rec.get("compensate"), True)
    return RigSensor(**kw)


def rig_from_dict(data: Any, where: str, default_name: str = "drive") -> DriveRig:
    """Validate a parsed rig mapping (see the module docstring).

    Raises:
        ConfigError: naming ``where`` (the file), the key at fault and what was expected.
    """
    if not isinstance(data, dict):
        raise _fail(where, "<top>", "a mapping with a 'sensors' mapping", type(data).__name__)
    if unknown := sorted(set(data) - set(_TOP_KEYS)):
        raise _fail(where, unknown[0], f"one of the keys {', '.join(_TOP_KEYS)}", unknown[0])
    sensors_in = data.get("sensors")
    if not isinstance(sensors_in, dict) or not sensors_in:
        raise _fail(
            where, "sensors", "a non-empty mapping of sensor name -> {modality, topic, ...}", sensors_in
        )
    sensors = {}
    for name, rec in sensors_in.items():
        if not isinstance(name, str) or not name:
            raise _fail(where, "sensors", "sensor names that are non-empty strings", name)
        sensors[name] = _sensor(where, name, rec)
    topics = [s.topic for s in sensors.values()]
    if dup := sorted({t for t in topics if topics.count(t) > 1}):
        raise _fail(where, "sensors", "one sensor per topic", f"{dup[0]} used twice")
    lidars = [n for n, s in sensors.items() if s.modality == "lidar"]
    reference = _str(where, "reference", data.get("reference"), lidars[0] if lidars else "")
    if reference not in sensors:
        raise _fail(where, "reference", f"one of the rig's sensors ({', '.join(sensors)})", reference or None)
    return DriveRig(
        name=_str(where, "name", data.get("name"), default_name),
        sensors=sensors,
        reference=reference,
        ego_frame=_str(where, "ego_frame", data.get("ego_frame"), "base_link"),
        global_frame=_str(where, "global_frame", data.get("global_frame"), "map"),
        odometry=_topic(where, "odometry", data.get("odometry"), required=False),
        annotations=_topic(where, "annotations", data.get("annotations"), required=False),
        source=where,
    )


def load_drive_rig(path: str | Path) -> DriveRig:
    """Read and validate a rig YAML file."""
    p = Path(path)
    return rig_from_dict(read_yaml(p, "rig file"), str(p), default_name=p.name.removesuffix(SIDECAR_SUFFIX))


def parse_rig_text(text: str, where: str, default_name: str) -> DriveRig:
    """A rig from YAML text (a recording's embedded rig)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: the rig is not valid YAML: {e}") from None
    return rig_from_dict(data, where, default_name)


# ----------------------------------------------------------------------------------------------- writing


def _transform_dict(t: Transform) -> dict[str, list[float]]:
    return {"translation": [float(v) for v in t.translation], "rotation": [float(v) for v in t.quat]}


def rig_to_dict(rig: DriveRig) -> dict[str, Any]:
    """The YAML mapping of a rig (defaults left out); :func:`rig_from_dict` reads it back equal."""
    sensors: dict[str, Any] = {}
    for name, s in rig.sensors.items():
        rec: dict[str, Any] = {"modality": s.modality, "topic": s.topic}
        if s.frame_id:
            rec["frame_id"] = s.frame_id
        if s.modality == "lidar":
            if s.time_field is not None:
                rec["time_field"] = s.time_field or "none"
            if s.time_unit != "auto":
                rec["time_unit"] = s.time_unit
            if s.intensity_field:
                rec["intensity_field"] = s.intensity_field
            if not s.deskew:
                rec["deskew"] = False
        elif s.modality == "camera":
            if s.info_topic:
                rec["info_topic"] = s.info_topic
            if s.intrinsics is not None and s.image_size is not None:
                rec["intrinsics"] = np.asarray(s.intrinsics, np.float64).tolist()
                rec["image_size"] = list(s.image_size)
        else:
            for k in ("doppler_field", "rcs_field"):
                if getattr(s, k):
                    rec[k] = getattr(s, k)
            if (s.vx_field, s.vy_field) != ("vx_comp", "vy_comp"):
                rec["vx_field"], rec["vy_field"] = s.vx_field, s.vy_field
            if not s.compensate:
                rec["compensate"] = False
        if s.ego_from_sensor is not None:
            rec["ego_from_sensor"] = _transform_dict(s.ego_from_sensor)
        sensors[name] = rec
    out: dict[str, Any] = {"name": rig.name, "reference": rig.reference}
    out["ego_frame"], out["global_frame"] = rig.ego_frame, rig.global_frame
    if rig.odometry:
        out["odometry"] = rig.odometry
    if rig.annotations:
        out["annotations"] = rig.annotations
    out["sensors"] = sensors
    return out


def rig_to_yaml(rig: DriveRig) -> str:
    return yaml.safe_dump(rig_to_dict(rig), sort_keys=False, width=120)


def save_drive_rig(rig: DriveRig, path: str | Path) -> None:
    """Write a rig YAML file atomically."""
    atomic_write_text(path, rig_to_yaml(rig))


# -------------------------------------------------------------------------------------------- derivation

_CAMERA_KINDS = ("compressed_image", "image")
_IMAGE_SUFFIX = re.compile(
    r"/(image(_raw|_rect|_color|_rect_color|_rect_compressed)?(/compressed)?|compressed)$"
)


def sensor_name_of(topic: str) -> str:
    """A sensor name from a topic: ``/CAM_FRONT/image_rect_compressed`` → ``CAM_FRONT``,
    ``/sensing/lidar/top/points`` → ``sensing_lidar_top_points``."""
    base = _IMAGE_SUFFIX.sub("", topic).strip("/")
    return re.sub(r"[^A-Za-z0-9_]+", "_", base) or "sensor"


def camera_info_topic(image_topic: str, topics: Mapping[str, Any]) -> str:
    """The CameraInfo topic of an image topic: ``camera_info`` beside it or one or two levels up."""
    parts = image_topic.rstrip("/").split("/")
    for up in (1, 2, 3):
        if len(parts) > up:
            cand = "/".join(parts[:-up]) + "/camera_info"
            if cand in topics and getattr(topics[cand], "kind", "camera_info") == "camera_info":
                return cand
    return ""


def derive_rig(info: BagInfo) -> DriveRig:
    """A rig guessed from the topic types (for a recording that carries none and has no sidecar).

    PointCloud topics whose name contains ``radar`` are radars, other PointClouds LiDARs; RadarScan topics
    radars; image topics cameras (named after the topic without its image suffix, with the ``camera_info``
    beside them); one Odometry topic is the ego pose, one MarkerArray topic the annotations. Frames are the
    defaults (``base_link``, ``map``). Check the result with ``sensorfuse drive info`` and save it with
    ``--write-rig`` to edit it.

    Raises:
        ConfigError: the recording has no topic that could be a sensor.
    """
    sensors: dict[str, RigSensor] = {}
    for topic in sorted(info.topics):
        t = info.topics[topic]
        if not t.decodable:
            continue
        modality = {"pointcloud": "lidar", "radar_scan": "radar"}.get(t.kind or "")
        if t.kind in _CAMERA_KINDS:
            modality = "camera"
        if modality == "lidar" and "radar" in topic.lower():
            modality = "radar"
        if modality is None:
            continue
        name = sensor_name_of(topic)
        while name in sensors:
            name += "_"
        info_topic = camera_info_topic(topic, info.topics) if modality == "camera" else ""
        sensors[name] = RigSensor(name, modality, topic, info_topic=info_topic)
    if not sensors:
        raise ConfigError(
            f"{info.path}: no rig given and none can be derived: no PointCloud2, image or RadarScan topic "
            f"(topics: {', '.join(sorted(info.topics)) or 'none'}); pass --rig RIG.yaml"
        )
    by_kind = {k: [n for n, t in info.topics.items() if t.kind == k] for k in ("odometry", "boxes")}
    lidars = [n for n, s in sensors.items() if s.modality == "lidar"]
    return DriveRig(
        name=info.path.name,
        sensors=sensors,
        reference=lidars[0] if lidars else next(iter(sensors)),
        odometry=by_kind["odometry"][0] if len(by_kind["odometry"]) == 1 else "",
        annotations=by_kind["boxes"][0] if len(by_kind["boxes"]) == 1 else "",
        source="derived from the topic types (a guess: check it, save it with --write-rig)",
    )


def sidecar_path(recording: str | Path) -> Path:
    """``drive.mcap`` → ``drive.mcap.rig.yaml`` (a rosbag2 folder ``bag`` → ``bag.rig.yaml``)."""
    p = Path(recording)
    return p.with_name(p.name.rstrip("/") + SIDECAR_SUFFIX)


def find_rig(
    recording: Path, info: BagInfo, metadata: Mapping[str, str], rig: str | Path | DriveRig | None
) -> DriveRig:
    """The rig of a recording: ``rig`` (a file or a :class:`DriveRig`), else the sidecar, else the embedded
    rig, else :func:`derive_rig` (see the module docstring)."""
    if isinstance(rig, DriveRig):
        return rig
    if rig is not None:
        return load_drive_rig(rig)
    side = sidecar_path(recording)
    if side.is_file():
        return load_drive_rig(side)
    text = metadata.get(RIG_METADATA_KEY)
    if text:
        r = parse_rig_text(text, f"{recording} (embedded rig {RIG_METADATA_KEY})", recording.name)
        return replace(r, source=f"embedded in the recording ({RIG_METADATA_KEY})")
    return derive_rig(info)
